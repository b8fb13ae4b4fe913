"""FinetuneModule: what train=head and train=all change, and a checkpoint that rebuilds the network."""

from functools import partial

import lightning as L
import pytest
import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torchvision.transforms import v2

from convis.backbones import build_backbone
from convis.backbones.backbone import build_model, head_path, replace_head
from convis.data.classification import ClassificationData
from convis.data.shapes import shapes
from convis.modules.finetune import FinetuneModule
from convis.runtime.errors import ConvisError

CLASSES = ["disc", "square", "triangle"]


def tiny() -> nn.Sequential:
    """A small conv net with batch norm, dropout and a Linear head at "5"."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.5),
    ).append(nn.Linear(8, 3))


def fit(module: L.LightningModule, tmp_path, steps: int = 3) -> L.Trainer:
    train, val = (shapes(size=24, image_size=16, split=s) for s in ("train", "val"))
    data = ClassificationData(train, val, 8)
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        enable_checkpointing=False,
        limit_val_batches=0,
    )
    trainer.fit(module, datamodule=data)
    return trainer


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_train_head_changes_only_the_head(tmp_path):
    torch.manual_seed(0)
    module = FinetuneModule(tiny(), "tiny", CLASSES, "6", partial(torch.optim.SGD, lr=0.1), train="head")
    before = snapshot(module.model)
    assert [n for n, p in module.named_parameters() if p.requires_grad] == ["model.6.weight", "model.6.bias"]
    module.train()
    assert not module.model[1].training and not module.model[5].training and module.model[6].training
    fit(module, tmp_path)
    after = module.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"6.weight", "6.bias"}


def test_train_all_changes_every_layer_and_the_batch_norm_statistics(tmp_path):
    torch.manual_seed(0)
    module = FinetuneModule(tiny(), "tiny", CLASSES, "6", partial(torch.optim.SGD, lr=0.1), train="all")
    before = snapshot(module.model)
    module.train()
    assert all(m.training for m in module.model.modules())
    fit(module, tmp_path)
    after = module.model.state_dict()
    assert {k for k in before if not torch.equal(before[k], after[k])} == set(before)


def test_training_starts_in_its_mode_whatever_mode_the_network_was_in(tmp_path):
    """Lightning keeps the modes it finds: a frozen (eval) copy must train, and head keeps the rest frozen."""
    every = FinetuneModule(tiny().eval(), "tiny", CLASSES, "6", partial(torch.optim.SGD, lr=0.1), train="all")
    assert all(m.training for m in every.model.modules())
    torch.manual_seed(0)
    head = FinetuneModule(tiny(), "tiny", CLASSES, "6", partial(torch.optim.SGD, lr=0.1), train="head")
    statistics = snapshot(head.model[1])
    fit(head, tmp_path)
    assert all(torch.equal(value, head.model[1].state_dict()[key]) for key, value in statistics.items())


def test_unknown_train_mode():
    with pytest.raises(ConvisError, match=r"unknown objective.train='body': choose one of head, all"):
        FinetuneModule(tiny(), "tiny", CLASSES, "6", torch.optim.SGD, train="body")


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_backbone(tmp_path):
    torch.manual_seed(0)
    model, _ = build_model("mobilenet_v2", None, seed=1)
    replace_head(model, len(CLASSES))
    head = head_path(model)
    module = FinetuneModule(model, "mobilenet_v2", CLASSES, head, partial(torch.optim.Adam, lr=1e-3))
    trainer = fit(module, tmp_path, steps=2)
    path = tmp_path / "finetuned.ckpt"
    trainer.save_checkpoint(path, weights_only=True)
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["convis"] == {"arch": "mobilenet_v2", "classes": CLASSES, "prefix": "model."}
    backbone = build_backbone("mobilenet_v2", str(path), seed=7)
    assert backbone.categories == CLASSES
    x = torch.randn(2, 3, 32, 32)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone.net(x), module(x))
        assert backbone.extractor(["logits"])(x)["logits"].shape == (2, 3)
    assert not any(isinstance(m, _BatchNorm) and m.training for m in backbone.net.modules())


def test_a_small_network_learns_shapes_far_above_chance(tmp_path):
    """Four conv blocks at 48 px, 1200 training shapes, 10 epochs: the object is learnable evidence."""
    torch.manual_seed(0)
    blocks = [
        [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU(), nn.MaxPool2d(2)]
        for i, o in [(3, 16), (16, 32), (32, 64), (64, 64)]
    ]
    net = nn.Sequential(*sum(blocks, []), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(64, 3))
    module = FinetuneModule(
        net,
        "small",
        CLASSES,
        "18",
        partial(torch.optim.AdamW, lr=3e-3),
        partial(torch.optim.lr_scheduler.CosineAnnealingLR, T_max=10),
        channels_last=False,
    )
    train, val = (shapes(size=1500, image_size=48, split=s) for s in ("train", "val"))
    trainer = L.Trainer(
        max_epochs=10,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        enable_checkpointing=False,
    )
    trainer.fit(module, datamodule=ClassificationData(train, val, 32, augment=v2.RandomHorizontalFlip()))
    assert trainer.callback_metrics["val_acc"] > 0.7  # chance: 1/3
