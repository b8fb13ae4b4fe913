"""A network trained elsewhere, saved the usual way: its head size, its wrappers' prefixes, its class names."""

import json
import logging

import pytest
import torch
import torchvision

from convis.backbones import backbone as backbone_module
from convis.backbones import build_backbone, custom_backbone, timm_backbone, torchvision_backbone
from convis.runtime.errors import ConvisError
from convis.validation import validate
from tests.backbones.tiny_nets import TinyNet
from tests.conftest import make_cfg

NAMES = ["disc", "square", "triangle"]


def mobilenet(classes: int = 3, **kwargs) -> torch.nn.Module:
    torch.manual_seed(4)
    return torchvision.models.mobilenet_v2(num_classes=classes, **kwargs).eval()


@pytest.fixture(scope="module")
def trained():
    """A MobileNetV2 with a 3-way head, as a user's own training would leave it."""
    return mobilenet(3)


def logits(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net(x)


def test_a_plain_state_dict_resizes_the_head_and_numbers_the_classes(tmp_path, trained, caplog):
    path = tmp_path / "net.pth"
    torch.save(trained.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="convis.backbones.backbone"):
        loaded = build_backbone("mobilenet_v2", str(path))
    assert loaded.categories == ["0", "1", "2"]
    assert [r.getMessage() for r in caplog.records] == [f"classifier.1 resized to 3 classes from {path}"]
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(logits(loaded.classifier, x), logits(trained, x))


@pytest.mark.parametrize("form", ["list", "json", "txt"])
def test_backbone_classes_name_the_head(tmp_path, trained, form):
    path = tmp_path / "net.pth"
    torch.save(trained.state_dict(), path)
    classes = {"list": NAMES, "json": tmp_path / "names.json", "txt": tmp_path / "names.txt"}[form]
    (tmp_path / "names.json").write_text(json.dumps(NAMES))
    (tmp_path / "names.txt").write_text("\n".join(NAMES) + "\n")
    assert build_backbone("mobilenet_v2", str(path), classes=classes).categories == NAMES


@pytest.mark.parametrize("prefix", ["module.", "model.", "net.", "model.net.", "module.model."])
def test_wrapper_prefixes_are_stripped_and_a_missing_batch_count_is_no_matter(tmp_path, trained, prefix):
    state = {prefix + k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "net.pth")
    loaded = build_backbone("mobilenet_v2", str(tmp_path / "net.pth"), classes=NAMES)
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(logits(loaded.classifier, x), logits(trained, x))


def test_a_training_loop_checkpoint_is_unwrapped(tmp_path, trained):
    path = tmp_path / "epoch3.pt"
    torch.save({"epoch": 3, "model_state_dict": trained.state_dict(), "optimizer_state_dict": {"lr": 0.1}}, path)
    assert build_backbone("mobilenet_v2", str(path)).categories == ["0", "1", "2"]


def test_vgg16_and_any_torchvision_model_take_the_file_s_head(tmp_path, monkeypatch):
    with torch.device("meta"):
        shapes = torchvision.models.vgg16(num_classes=19).state_dict()
    state = {key: torch.full(value.shape, 0.5) for key, value in shapes.items()}
    # a VGG16 file is half a gigabyte: its state dict is handed over as if read from one
    monkeypatch.setattr(backbone_module, "file_weights", lambda path: (state, None))
    loaded = build_backbone("vgg16", "net.pth")
    assert len(loaded.categories) == 19 and loaded.net.get_submodule("classifier.6").out_features == 19
    assert bool((loaded.net.get_submodule("classifier.6").weight == 0.5).all())
    monkeypatch.undo()
    resnet = torchvision.models.resnet18(num_classes=5).eval()
    torch.save({"module." + k: v for k, v in resnet.state_dict().items()}, tmp_path / "resnet.pth")
    (tmp_path / "names.json").write_text(json.dumps(list("abcde")))
    loaded = torchvision_backbone("resnet18", weights=str(tmp_path / "resnet.pth"), classes=tmp_path / "names.json")
    assert loaded.categories == list("abcde")
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(logits(loaded.classifier, x), logits(resnet, x))


def test_timm_and_custom_networks_take_the_file_s_head(tmp_path):
    timm = pytest.importorskip("timm")
    net = timm.create_model("resnet18", pretrained=False, num_classes=4).eval()
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, tmp_path / "timm.pth")
    loaded = timm_backbone("resnet18", weights=str(tmp_path / "timm.pth"), classes=list("abcd"))
    assert loaded.categories == list("abcd")
    x = torch.randn(1, 3, 32, 32)
    torch.testing.assert_close(logits(loaded.classifier, x), logits(net, x))
    tiny = TinyNet(classes=7).eval()
    torch.save({"model.net." + k: v for k, v in tiny.state_dict().items()}, tmp_path / "tiny.pth")
    mine = custom_backbone({"_target_": "tests.backbones.tiny_nets.TinyNet"}, weights=str(tmp_path / "tiny.pth"))
    assert mine.categories == [str(i) for i in range(7)]
    torch.testing.assert_close(logits(mine.classifier, x), logits(tiny, x))


def test_a_body_that_does_not_fit_names_its_first_key_with_both_shapes(tmp_path):
    path = tmp_path / "half.pth"
    torch.save(mobilenet(3, width_mult=0.5).state_dict(), path)
    with pytest.raises(ConvisError) as info:
        build_backbone("mobilenet_v2", str(path))
    message = str(info.value)
    assert f"features.0.0.weight is [16, 3, 3, 3] in {path} but [32, 3, 3, 3] in mobilenet_v2" in message
    assert "\n" not in message
    tiny = TinyNet(width=4)
    torch.save(tiny.state_dict(), tmp_path / "tiny.pth")
    with pytest.raises(ConvisError, match=r"first: conv1.weight is \[4, 3, 3, 3\] in .*tiny.pth but \[8, 3, 3, 3\]"):
        custom_backbone({"_target_": "tests.backbones.tiny_nets.TinyNet"}, weights=str(tmp_path / "tiny.pth"))


def test_class_names_that_do_not_count_the_head_s_outputs(tmp_path, trained):
    path = tmp_path / "net.pth"
    torch.save(trained.state_dict(), path)
    with pytest.raises(ConvisError, match=rf"^backbone.classes has 2 names but {path}'s head has 3 outputs"):
        build_backbone("mobilenet_v2", str(path), classes=["a", "b"])
    with pytest.raises(ConvisError, match=r"^backbone.classes has 2 names but mobilenet_v2's head has 1000 outputs"):
        build_backbone("mobilenet_v2", None, classes=["a", "b"])
    with pytest.raises(ConvisError, match=r"^backbone.classes has 3 names but TinyNet's head has 4 outputs \(fc\)"):
        custom_backbone({"_target_": "tests.backbones.tiny_nets.TinyNet"}, classes=NAMES)


def test_a_whole_pickled_model_is_never_unpickled_and_the_fix_is_said(tmp_path, trained, monkeypatch):
    path = tmp_path / "whole.pth"
    torch.save(trained, path)
    monkeypatch.setattr(torchvision.models.MobileNetV2, "__setstate__", lambda *a: pytest.fail("unpickled"))
    with pytest.raises(ConvisError) as info:
        build_backbone("mobilenet_v2", str(path))
    message = str(info.value)
    assert message.startswith(f"weights file {path} is a whole pickled model (torchvision.models.mobilenetv2.")
    assert "torch.save(model.state_dict(), 'whole.pth')" in message and "\n" not in message


def test_validation_checks_targets_against_the_named_classes_of_a_file(tmp_path, trained):
    path = tmp_path / "net.pth"
    torch.save(trained.state_dict(), path)
    (tmp_path / "names.txt").write_text("\n".join(NAMES))
    base = ["backbone=mobilenet_v2", f"backbone.weights={path}", "objective=class_score"]
    named = [*base, f"backbone.classes={tmp_path / 'names.txt'}"]
    validate(make_cfg(tmp_path, *named, "target=square"))
    with pytest.raises(ConvisError, match=r"unknown class name target='squar'; closest: square"):
        validate(make_cfg(tmp_path, *named, "target=squar"))
    validate(make_cfg(tmp_path, *base, "target=square"))  # unnamed: checked once the file is read
