"""Targets by index or by name, and the errors for bad ones."""

import pytest

from convis.runtime.errors import ConvisError
from convis.targets import class_names, resolve_target, resolve_targets

CATEGORIES = ["tench", "goldfish", "tabby", "tiger cat", "golden retriever"]


def test_indices_names_and_lists():
    assert resolve_targets("tabby", CATEGORIES) == [2]
    assert resolve_targets(["Golden_Retriever", 1, "0"], CATEGORIES) == [4, 1, 0]
    assert resolve_targets(None, CATEGORIES) == []


def test_unknown_name_suggests_the_closest():
    with pytest.raises(ConvisError, match=r"unknown class name target='tabbby'; closest: tabby"):
        resolve_targets("tabbby", CATEGORIES)


@pytest.mark.parametrize("bad", [5, -1, "17"])
def test_index_out_of_range(bad):
    with pytest.raises(ConvisError, match=r"out of range: this model has classes 0 to 4"):
        resolve_targets(bad, CATEGORIES)


def test_a_name_for_unnamed_classes_says_how_to_name_them():
    with pytest.raises(ConvisError, match=r"target='cat' \(or give a class index 0-2\); .* backbone.classes"):
        resolve_target("cat", ["0", "1", "2"])


@pytest.mark.parametrize("names", [["a", "b", "a"], ["Tabby Cat", "dog", "tabby_cat"]])
def test_class_names_that_a_target_cannot_tell_apart_are_refused(names, tmp_path):
    with pytest.raises(ConvisError, match=rf"^the class names names classes 0 and 2 both '{names[2]}': give each"):
        class_names(names)
    listed = tmp_path / "dup.txt"
    listed.write_text("\n".join(names))
    with pytest.raises(ConvisError, match=rf"dup.txt names classes 0 and 2 both '{names[2]}'"):
        class_names(str(listed))
