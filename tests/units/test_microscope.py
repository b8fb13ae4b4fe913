"""objective=microscope end to end on a small network: every unit's record and files, the site, the
parts written as they finish, a resume that runs only what is missing, and two jobs merged into one site."""

import json

import pytest
from omegaconf import open_dict

from convis import experiments
from convis.experiments.activation import Activation
from convis.experiments.inversion import Inversion
from convis.runtime.errors import ConvisError
from convis.units.parts import merge

SMALL = [
    "experiment=own_network",
    "objective=microscope",
    "layer=[relu1,relu2]",
    "dataset=shapes",
    "dataset.size=24",
    "image_size=32",
    "steps=2",
    "objective.k=3",
    "objective.batch_size=5",
    "objective.sample=16",
    "objective.robustness_copies=2",
    "objective.inversions=2",
    "objective.inversion_steps=2",
    "objective.data_batch=8",
    "+objective.concepts={_target_:convis.data.concepts.concepts,size:12}",
]


@pytest.fixture
def parts(monkeypatch):
    """The folders of the parts (visualisation chunks and inversions) that actually ran."""
    ran = []
    for kind in (Activation, Inversion):
        original = kind.run

        def run(self, output_dir, original=original):
            ran.append("/".join(output_dir.parts[-3:]))
            return original(self, output_dir)

        monkeypatch.setattr(kind, "run", run)
    return ran


def small(cfg_factory, *extra):
    return cfg_factory(*SMALL, *extra)


def test_every_unit_has_its_visualisation_examples_label_and_trust(cfg_factory, tmp_path, parts):
    result = experiments.run(small(cfg_factory))
    site = tmp_path / "microscope"
    units = json.loads((site / "units.json").read_text())
    assert [(u["layer"], u["channel"]) for u in units] == [(layer, c) for layer in ("relu1", "relu2") for c in range(8)]
    for unit in units:
        assert (site / unit["visualisation"]).is_file()
        assert 1 <= len(unit["exemplars"]) <= 3
        values = [e["activation"] for e in unit["exemplars"]]
        assert values == sorted(values, reverse=True)
        assert all((site / e["png"]).is_file() for e in unit["exemplars"])
        assert unit["label"] is None or {"concept", "category", "iou"} <= set(unit["label"])
        assert unit["trust"]["weaker_than_examples"] == (
            unit["trust"]["visualisation_activation"] < unit["trust"]["top_example_activation"]
        )
        assert sum(unit["histogram"]["counts"]) == 16
    layers = json.loads((site / "layers.json").read_text())
    assert [len(layer["inversions"]) for layer in layers] == [2, 2]
    assert (site / "index.html").is_file() and (site / "layers" / "relu1.html").is_file()
    assert len(result.metrics["results"]) == 16 and result.metrics["objective"] == "microscope"
    # each layer's 8 units in parts of 5 (two parts), and its inversion
    assert sorted(parts) == sorted(
        [f"visualisations/{layer}/{chunk}" for layer in ("relu1", "relu2") for chunk in ("0-4", "5-7")]
        + ["microscope/inversions/relu1", "microscope/inversions/relu2"]
    )


def test_a_resume_runs_only_the_parts_not_written(cfg_factory, tmp_path, parts):
    experiments.run(small(cfg_factory))
    site = tmp_path / "microscope"
    kept = (site / "visualisations" / "relu1" / "0-4" / "metrics.json").stat().st_mtime_ns
    (site / "visualisations" / "relu2" / "5-7" / "metrics.json").unlink()  # as a kill during that part leaves it
    (site / "units.json").unlink()
    parts.clear()
    experiments.run(small(cfg_factory, f"resume={tmp_path}"))
    assert parts == ["visualisations/relu2/5-7"]
    assert (site / "visualisations" / "relu1" / "0-4" / "metrics.json").stat().st_mtime_ns == kept
    assert len(json.loads((site / "units.json").read_text())) == 16


def test_two_jobs_split_by_channel_merge_into_one_site(cfg_factory, tmp_path):
    for job, channels in (("0", "0:3"), ("1", "3:8")):
        cfg = cfg_factory(*SMALL, "layer=relu1", f"objective.channel='{channels}'")
        with open_dict(cfg):
            cfg.output_dir = str(tmp_path / job)
        experiments.run(cfg)
    index = merge(tmp_path)
    units = json.loads((tmp_path / "microscope" / "units.json").read_text())
    assert [u["channel"] for u in units] == list(range(8))
    assert all((tmp_path / "microscope" / u["visualisation"]).resolve().is_file() for u in units)
    assert index == tmp_path / "microscope" / "index.html"


def test_bad_options_are_refused_by_name(cfg_factory):
    with pytest.raises(ConvisError, match=r"objective.k=0 .*positive whole"):
        experiments.run(small(cfg_factory, "objective.k=0"))
    with pytest.raises(ConvisError, match=r"objective.concepts=nope is not a dataset"):
        experiments.run(small(cfg_factory, "objective.concepts=nope"))


def test_the_api_takes_a_module_and_the_images_to_find_examples_in(tmp_path):
    import numpy as np

    import convis
    from tests.backbones.tiny_nets import TinyNet

    images = [np.random.default_rng(i).integers(0, 256, (32, 32, 3), dtype=np.uint8) for i in range(6)]
    quick = {"k": 2, "sample": 4, "robustness_copies": 2, "inversions": 0, "concepts": None}
    result = convis.microscope(
        TinyNet(), images, layers="relu1", image_size=32, steps=2, objective=quick, output_dir=tmp_path
    )
    units = json.loads((tmp_path / "microscope" / "units.json").read_text())
    assert len(units) == len(result.metrics["results"]) == 8
    assert all(len(u["exemplars"]) == 2 for u in units)  # k=2 of the six images given
    assert {e["index"] for u in units for e in u["exemplars"]} <= set(range(6))
    assert len({(e["index"], e["image"]) for u in units for e in u["exemplars"]}) == len(
        {e["index"] for u in units for e in u["exemplars"]}
    )  # one name per image
    assert all(u["label"] is None for u in units)  # concepts=None: no labels
    with pytest.raises(ConvisError, match="give output_dir="):
        convis.microscope(TinyNet(), images, layers="relu1")


def test_diverse_visualisations_are_extra_images_of_each_unit(cfg_factory, tmp_path):
    import numpy as np
    from PIL import Image

    few = ["layer=relu1", "objective.channel='0:2'", "objective.inversions=0", "objective.concepts=null"]
    experiments.run(small(cfg_factory, *few, "objective.diverse=2"))
    site = tmp_path / "microscope"
    units = json.loads((site / "units.json").read_text())
    assert [len(u["diverse"]) for u in units] == [2, 2]
    first, second = (np.asarray(Image.open(site / path), dtype=float) for path in units[0]["diverse"])
    assert np.abs(first - second).mean() > 1  # two different images, kept apart by the diversity term
