"""objective=saliency end to end on random-init backbones: files per image, metrics, errors."""

import json
import sys
import types

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf, open_dict
from PIL import Image
from torchvision.models import get_model_weights

import convis
from convis import experiments
from convis.attribution.gradcam import last_features
from convis.attribution.gradient import gradient as gradient_map
from convis.attribution.guided_backprop import guided_backprop
from convis.backbones import build_backbone
from convis.config import conf_dir, options
from convis.data.datasets import sample_images
from convis.experiments.saliency import summarise
from convis.metrics.saliency import auc
from convis.modules.saliency import SaliencyModule
from convis.runtime.errors import ConvisError
from tests.backbones.tiny_nets import TinyNet

BOXES = [[2, 4, 14, 16], [16, 16, 30, 28], [8, 18, 20, 30]]


def boxed_squares(image_size: int, mean, std) -> list[dict]:
    """Three flat-grey pictures, each with one red square and its box: a dataset with ground truth."""
    items = []
    for index, (x0, y0, x1, y1) in enumerate(BOXES):
        pixels = torch.full((3, image_size, image_size), 0.5)
        pixels[:, y0:y1, x0:x1] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
        image = (pixels - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
        items.append({"image": image, "name": f"square{index}", "label": 0, "box": [x0, y0, x1, y1]})
    return items


@pytest.fixture
def boxed_dataset(monkeypatch):
    """A dataset config naming `boxed_squares`, importable by Hydra's instantiate."""
    module = types.ModuleType("saliency_fixture")
    module.boxed_squares = boxed_squares
    monkeypatch.setitem(sys.modules, "saliency_fixture", module)
    return {"_target_": "saliency_fixture.boxed_squares"}


def test_every_image_gets_a_map_and_pngs_in_batches(cfg_factory, tmp_path, monkeypatch):
    batches = []
    step = SaliencyModule.predict_step
    counted = lambda self, batch, i: batches.append(len(batch["name"])) or step(self, batch, i)  # noqa: E731
    monkeypatch.setattr(SaliencyModule, "predict_step", counted)
    cfg = cfg_factory("objective=saliency", "dataset.names=[chelsea,coffee,astronaut]", "objective.batch_size=2")
    metrics = experiments.run(cfg).metrics
    assert batches == [2, 1]
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    assert (metrics["objective"], metrics["backbone"], metrics["method"]) == ("saliency", "vgg16", "gradient")
    assert [r["image"] for r in metrics["results"]] == ["chelsea", "coffee", "astronaut"]
    for result in metrics["results"]:
        saliency = np.load(tmp_path / result["map"])
        assert saliency.shape == (32, 32) and saliency.dtype == np.float32 and saliency.max() > 0
        assert (tmp_path / result["png"]).stat().st_size > 100 and (tmp_path / result["box_png"]).stat().st_size > 100
        x0, y0, x1, y1 = result["box"]
        assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32
        assert result["target"] == get_model_weights("vgg16").DEFAULT.meta["categories"][result["target_index"]]
    assert "summary" not in metrics and "pointing_game" not in metrics["results"][0]


@pytest.fixture
def modules(monkeypatch) -> list:
    """Every SaliencyModule a run builds, with a copy of its network's weights at that moment."""
    built = []
    init = SaliencyModule.__init__

    def spy(self, *args, **kwargs):
        init(self, *args, **kwargs)
        built.append((self, {k: v.clone() for k, v in self.net.state_dict().items()}))

    monkeypatch.setattr(SaliencyModule, "__init__", spy)
    return built


def test_the_target_is_each_images_predicted_class(cfg_factory, modules):
    results = experiments.run(cfg_factory("objective=saliency", "dataset.names=[chelsea,coffee,rocket]")).metrics[
        "results"
    ]
    images = torch.stack([item["image"] for item in sample_images(["chelsea", "coffee", "rocket"], image_size=32)])
    assert [r["target_index"] for r in results] == modules[0][0].net(images).argmax(1).tolist()


def test_a_target_by_name_is_used_for_every_image(cfg_factory):
    cfg = cfg_factory("objective=saliency", "dataset.names=[chelsea,coffee]", "target=tabby")
    results = experiments.run(cfg).metrics["results"]
    assert [(r["target"], r["target_index"]) for r in results] == [("tabby", 281)] * 2


def small(method: str) -> list[str]:
    """Few samples, masks and path steps, for the methods that take them; a 64-channel layer for those that pass
    each channel forward in batches (Score-CAM, Ablation-CAM: VGG16's last features have 512)."""
    settings = OmegaConf.load(conf_dir() / "method" / f"{method}.yaml")
    shrunk = (("samples", 4), ("masks", 8), ("steps", 8), ("batch_size", 64))
    layer = ["method.layer=block1_conv2"] if "batch_size" in settings else []
    return [f"method.{key}={value}" for key, value in shrunk if key in settings] + layer


@pytest.mark.parametrize("method", [m for m in options("method") if m != "gradient"])
def test_every_method_runs_to_the_end(cfg_factory, tmp_path, method):
    metrics = experiments.run(cfg_factory("objective=saliency", f"method={method}", *small(method))).metrics
    (result,) = metrics["results"]
    assert metrics["method"] == method and np.load(tmp_path / result["map"]).shape == (32, 32)


def test_boxes_give_quality_metrics_a_summary_and_the_sanity_check(cfg_factory, tmp_path, boxed_dataset, modules):
    cfg = cfg_factory(
        "objective=saliency",
        "backbone=mobilenet_v2",
        "objective.batch_size=2",
        "objective.sanity_check=true",
        "objective.sanity_depths=3",
        "objective.evaluation.perturbation_steps=4",
    )
    with open_dict(cfg):
        cfg.dataset = boxed_dataset
    metrics = experiments.run(cfg).metrics
    keys = {
        "pointing_game",
        "pointing_game_centre",
        "deletion_auc",
        "insertion_auc",
        "deletion_auc_random",
        "insertion_auc_random",
        "road_morf",
        "road_lerf",
        "road_combined",
        "box_iou",
    }
    for result in metrics["results"]:
        assert keys <= set(result) and isinstance(result["pointing_game"], bool)
        assert 0 <= result["deletion_auc"] <= 1 and 0 <= result["box_iou"] <= 1
    assert [r["pointing_game_centre"] for r in metrics["results"]] == [False, True, True]  # centre (16, 16)
    summary = metrics["summary"]
    assert set(summary) == keys | {"box_accuracy"}
    assert summary["deletion_auc"] == pytest.approx(np.mean([r["deletion_auc"] for r in metrics["results"]]))
    curves = metrics["curves"]  # the mean curves: 4 perturbation steps of 32 x 32 pixels give 5 points
    perturbed = {f"{kind}_curve{suffix}" for kind in ("deletion", "insertion") for suffix in ("", "_random")}
    assert set(curves) == perturbed | {"road_morf_curve", "road_lerf_curve"}
    assert all(len(curves[key]) == 5 for key in perturbed) and len(curves["road_morf_curve"]) == 9  # 10% ... 90%
    assert summary["road_morf"] == pytest.approx(np.mean(curves["road_morf_curve"]), abs=1e-6)
    assert float(auc(torch.tensor([curves["insertion_curve"]]))) == pytest.approx(summary["insertion_auc"], abs=1e-6)
    assert Image.open(tmp_path / metrics["curves_png"]).size == (900, 350)  # two panels, 9 x 3.5 in at 100 dpi
    depths = [row["randomised"] for row in metrics["sanity_check"]]
    assert len(depths) == 3 and depths[0] == "classifier.1" and depths[-1] == "features.0.0"  # top down
    assert all(-1 <= row["spearman"] <= 1 for row in metrics["sanity_check"])
    assert Image.open(tmp_path / metrics["sanity_check_png"]).size == (600, 400)
    ((module, weights),) = modules  # the randomisation worked on a copy: the shared network is unchanged
    assert all(torch.equal(module.net.state_dict()[k], v) for k, v in weights.items())


def test_gradcam_defaults_to_the_last_convolutional_features():
    vgg, mobilenet = build_backbone("vgg16", None), build_backbone("mobilenet_v2", None)
    assert last_features(vgg, 32) == "features.29"  # block5_conv3, not block5_pool
    assert last_features(mobilenet, 32) == "features.18"  # out_relu


@pytest.mark.parametrize(
    ("overrides", "layer"),
    [
        (["method=gradcam"], "block5_conv3"),
        (["method=layercam", "method.layer=features.8"], "block2_conv2"),
        ([], None),
    ],
)
def test_metrics_name_the_network_its_weights_and_the_layer_a_cam_method_read(cfg_factory, overrides, layer):
    metrics = experiments.run(cfg_factory("objective=saliency", "dataset.names=[chelsea]", *overrides)).metrics
    assert (metrics["backbone"], metrics["weights"], metrics["image_size"]) == ("vgg16", "random init", 32)
    assert metrics.get("layer") == layer and "steps" not in metrics  # the gradient reads no layer, steps none


def test_guided_backprop_on_mobilenet_v2_is_not_the_plain_gradient():
    backbone = build_backbone("mobilenet_v2", None)
    image, target = sample_images(["chelsea"], image_size=32)[0]["image"][None], torch.tensor([0])
    gradient, guided = (
        builder(backbone.net, backbone, 32).attribute(image, target) for builder in (gradient_map, guided_backprop)
    )
    assert not torch.allclose(gradient, guided, rtol=1e-2, atol=0)  # Captum alone would hook no ReLU6 there


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("target=1000", "target=1000 is out of range: this model has classes 0 to 999"),
        ("target=[1,2]", "saliency takes one class for every image, or target=null"),
        ("objective.batch_size=0", "objective.batch_size=0 must be a positive whole number"),
        ("method.layer=block9_conv1", "unknown layer 'block9_conv1'"),
    ],
)
def test_bad_settings_fail_clearly_before_any_output(cfg_factory, tmp_path, override, message):
    extra = ["method=gradcam"] if "layer" in override else []
    with pytest.raises(ConvisError, match=message):
        experiments.run(cfg_factory("objective=saliency", override, *extra))
    assert not (tmp_path / "metrics.json").exists()


def test_a_module_of_ones_own_is_recorded_as_running_with_its_own_weights():
    picture = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    metrics = convis.saliency(TinyNet(), picture, method="gradcam", image_size=32).metrics
    assert (metrics["backbone"], metrics["weights"], metrics["layer"]) == ("TinyNet", "the given module's own", "relu2")


def test_quantus_metrics_land_per_image_in_the_results_and_as_means_in_the_summary(cfg_factory, tmp_path):
    quantus = "+objective.quantus={Sparseness:{},FaithfulnessCorrelation:{nr_runs:5,subset_size:16}}"
    metrics = experiments.run(cfg_factory("objective=saliency", "dataset.names=[chelsea,coffee]", quantus)).metrics
    assert metrics["quantus"] == {
        "Sparseness": {"higher_is_better": True},
        "FaithfulnessCorrelation": {"higher_is_better": True},
    }
    values = [r["Sparseness"] for r in metrics["results"]]
    assert len(values) == 2 and all(0 <= v <= 1 for v in values)
    assert metrics["summary"]["Sparseness"] == pytest.approx(np.mean(values))
    assert json.loads((tmp_path / "metrics.json").read_text())["summary"] == metrics["summary"]


def test_a_quantus_metric_is_averaged_over_the_images_it_scores_and_left_out_where_it_scores_none():
    results = [{"Sparseness": 0.2, "Complexity": None}, {"Sparseness": None, "Complexity": None}, {"Sparseness": 0.4}]
    assert summarise(results, ("Sparseness", "Complexity")) == {"Sparseness": pytest.approx(0.3)}
