"""File names made from user input (image names, layers, captions) keep only [A-Za-z0-9._-]."""

import json
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from convis import experiments
from convis.runtime.writers import safe_name

SAFE = re.compile(r"[A-Za-z0-9._-]+")
TINY_NET = ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a é b!", "a_b_"),
        ("a é b!.png", "a_b_.png"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("C:\\Users\\me\\cat.jpg", "C_Users_me_cat.jpg"),
        ("...", "unnamed"),
        ("", "unnamed"),
        ("block5_conv3", "block5_conv3"),
        ("features.28", "features.28"),
        ("猫", "_"),
    ],
)
def test_safe_name_examples(text, expected):
    assert safe_name(text) == expected


@given(st.text())
def test_safe_name_keeps_only_the_portable_characters(text):
    name = safe_name(text)
    assert SAFE.fullmatch(name) and not name.startswith(".") and len(name) <= 120


@pytest.fixture
def odd_picture(tmp_path):
    path = tmp_path / "in" / "a é b!.png"
    path.parent.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
    return path


def written_names(run_dir) -> list[str]:
    """Every file and folder name a run wrote (the input picture's folder aside)."""
    return [path.name for path in run_dir.rglob("*") if "in" not in path.relative_to(run_dir).parts[:1]]


@pytest.mark.parametrize(
    "objective", [["objective=saliency"], ["objective=inversion", "layer=conv2", "steps=1", "prior=none"]]
)
def test_a_run_writes_safe_file_names_for_an_odd_image_name(cfg_factory, tmp_path, odd_picture, objective):
    metrics = experiments.run(cfg_factory(*objective, *TINY_NET, f"dataset.path='{odd_picture}'")).metrics
    names = written_names(tmp_path)
    assert names and all(SAFE.fullmatch(name) for name in names), names
    assert any(name.startswith("a_b_") for name in names), names
    for result in metrics["results"]:
        assert result["image"] == "a é b!"  # the name itself is kept for reading
        assert (tmp_path / result["png"]).is_file() and SAFE.fullmatch(result["png"].split("/")[-1])
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
