"""What a config may build: every shipped option passes; a `_target_` naming anything else is refused, wherever
in the tree it is and however it is written, unless CONVIS_TRUSTED_TARGETS names it."""

import pytest
from torch import nn

from convis.config import conf_dir, options
from convis.runtime.errors import ConvisError
from convis.runtime.trusted import TRUSTED_VARIABLE, check_targets

GROUPS = sorted(path.name for path in conf_dir().iterdir() if path.is_dir() and path.name != "hydra")
SHIPPED = [f"{group}={option}" for group in GROUPS for option in options(group)]
# the saliency objective's localiser, emptied of its own arguments: any callable could take its place
LOCALISER = [
    "objective=saliency",
    "~objective.localisation.foreground_quantile",
    "~objective.localisation.background_quantile",
    "~objective.localisation.iterations",
]


@pytest.mark.parametrize("option", SHIPPED)
def test_every_shipped_option_may_build_what_it_names(cfg_factory, option):
    check_targets(cfg_factory(option))


@pytest.mark.parametrize(
    "overrides",
    [
        ["backbone=custom", "backbone.model._target_=tests.backbones.tiny_nets.TinyNet"],
        ["backbone=custom", "backbone.model._target_=torch.nn.Linear", "+backbone.model.in_features=3"],
        ["backbone=custom", "backbone.model._target_=tests.backbones.notthere.Net"],  # the run says it is missing
        ["objective=finetune", "objective.optimizer._target_=torch.optim.SGD"],
        ["objective=finetune", "objective.augment.transforms.1._target_=torchvision.transforms.v2.RandomErasing"],
    ],
)
def test_a_network_class_and_the_libraries_own_kinds_pass(cfg_factory, overrides):
    check_targets(cfg_factory(*overrides))


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        (["objective.localisation._target_=torch.load"], "objective.localisation._target_=torch.load"),
        (["objective.localisation._target_=shutil.copyfile"], "objective.localisation._target_=shutil.copyfile"),
        (["objective.localisation._target_=os.system"], "objective.localisation._target_=os.system"),
        (["objective.evaluation._target_=builtins.eval"], "objective.evaluation._target_=builtins.eval"),
        (["prior.penalties.1._target_=os.system"], "prior.penalties.1._target_=os.system"),
        (
            ["+objective.localisation.extra=[1,{_target_:os.system}]"],
            "objective.localisation.extra.1._target_=os.system",
        ),
        (["+evil=torch.load", "objective.localisation._target_=${evil}"], "objective.localisation._target_=torch.load"),
        (["method._target_=convis.api.torch.load"], "method._target_=convis.api.torch.load"),
        (
            ["+objective.scheduler._target_=torch.optim.swa_utils.torch.load"],
            "objective.scheduler._target_=torch.optim",
        ),
        (["backbone=custom", "backbone.model._target_=pathlib.Path"], "backbone.model._target_=pathlib.Path"),
        (["backbone=custom", "backbone.model._target_=torch.load"], "backbone.model._target_=torch.load"),
        (["objective._target_=torch.nn.Linear"], "objective._target_=torch.nn.Linear"),  # a Module, not a network
    ],
)
def test_anything_else_is_refused_in_one_line_naming_key_and_target(cfg_factory, overrides, refused):
    with pytest.raises(ConvisError) as info:
        check_targets(cfg_factory(*LOCALISER, *overrides))
    message = str(info.value)
    assert message.startswith(refused) and " is not something a config may build: " in message
    assert f"set {TRUSTED_VARIABLE}=" in message and "\n" not in message


def test_a_node_interpolated_into_itself_is_scanned_once(cfg_factory):
    cfg = cfg_factory("+loop={_target_:convis.priors.Prior,again:${loop}}")
    check_targets(cfg)


def test_the_environment_allows_a_callable_by_its_exact_name(cfg_factory, monkeypatch):
    overrides = [*LOCALISER, "objective.localisation._target_=shutil.copyfile", "prior.penalties.1._target_=os.system"]
    monkeypatch.setenv(TRUSTED_VARIABLE, "shutil.copyfile , os.system")
    check_targets(cfg_factory(*overrides))
    monkeypatch.setenv(TRUSTED_VARIABLE, "shutil.copyfile,os")  # a module's name is not a prefix of its callables
    with pytest.raises(ConvisError, match=r"^prior.penalties.1._target_=os.system is not"):
        check_targets(cfg_factory(*overrides))


def test_a_module_given_to_the_python_api_passes_where_its_class_is_not_importable(cfg_factory):
    class Local(nn.Module):
        """Defined in a function (or a notebook): its recorded name cannot be imported."""

    recorded = f"{Local.__module__}.{Local.__qualname__}"  # as the API records the module it is given
    check_targets(cfg_factory("backbone=custom", f"backbone.model._target_='{recorded}'"))
    check_targets(cfg_factory("backbone=custom", "backbone.model._target_=__main__.NotebookNet"))
