"""Config validation in-process: each bad value in one line, before any weights or data are read; random
overrides (hypothesis) only ever give a ConvisError, never another exception or a hang."""

import copy
import re
import signal
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf, open_dict

from convis.config import options
from convis.runtime.errors import ConvisError, hydra_problem
from convis.validation import validate

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["layer=blok5_conv3"], r"unknown layer 'blok5_conv3' for vgg16 \(did you mean block5_conv3"),
        (["layer=[block1_conv1,5]"], r"layer 5 is not a layer name"),
        (["objective=class_score", "target=tabbby"], r"unknown class name target='tabbby'; closest: tabby"),
        (["objective=class_score", "target=1000"], r"target=1000 is out of range: this model has classes 0 to 999"),
        (
            ["objective._target_=convis.experiments.inversio.Inversion"],
            r"objective._target_=.*inversio.Inversion cannot",
        ),
        (
            ["objective._target_=torch.nn.Linear"],
            r"objective._target_=torch.nn.Linear is not a convis.experiments.base.Exp",
        ),
        (["image_size=8"], r"image_size=8 is too small for block5_conv3 of vgg16: .* use image_size=16 or more"),
        (
            ["objective=class_score", "target=1", "image_size=20"],
            r"image_size=20 is too small for logits .*image_size=32",
        ),
        (["image_size=0"], r"image_size=0 must be a positive whole number, e.g. image_size=224"),
        (["image_size=12.5"], r"image_size=12.5 must be a positive whole number"),
        (["steps=-3"], r"steps=-3 must be a positive whole number"),
        (["optimizer.optim.lr=0"], r"optimizer.optim.lr=0 must be a positive number, e.g. optimizer.optim.lr=0.01"),
        (["optimizer.optim.lr=-1e-3"], r"optimizer.optim.lr=-0.001 must be a positive number"),
        (["optimizer.optim.lr=nan"], r"optimizer.optim.lr=nan must be a positive number"),
        (["objective.feature_weight=-100"], r"objective.feature_weight=-100 must be a positive number"),
        (["prior.penalties.1.weight=0"], r"^weight=0 must be a positive number, e.g. weight=1.0$"),
        (
            ["objective=activation", "objective.terms=[{layer:block4_conv1,weight:0}]"],
            r"objective.terms.0.weight=0 must be a non-zero",
        ),
        (["checkpoint_every=-1"], r"checkpoint_every=-1 must be a whole number, 0 or more"),
        (["dataset=image_folder"], r"dataset.root has no value: give one on the command line, e.g. dataset.root="),
        (["steps=${oc.env:CONVIS_TEST_UNSET}"], r"cannot resolve steps: .*CONVIS_TEST_UNSET"),
        (["optimizer.optim=3"], r"optimizer.optim=3 does not build an optimiser: give a torch.optim class"),
        (["backbone=mobilenet_v2", "layer=block5_conv3"], r"unknown layer 'block5_conv3' for mobilenet_v2"),
    ],
)
def test_a_bad_value_is_one_line_naming_it_and_what_to_type(cfg_factory, overrides, message):
    with pytest.raises(ConvisError, match=message) as info:
        validate(cfg_factory(*overrides))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["backbone=mobilenet_v2", "layer=[block_1_expand_relu,out_relu]"],
        ["objective=class_score", "target=[tabby,1]"],
        ["objective=activation", "objective.terms=[{layer:block4_conv1,channel:7,weight:-0.5}]"],
        ["objective=saliency", "method=gradcam", "method.layer=block4_conv3"],
        ["objective=finetune", "dataset=shapes"],
        ["image_size=16", "layer=block5_conv3"],  # 1x1 at the deepest layer still fits
        ["backbone.weights=IMAGENET1K_V1"],  # checked without the weights: no download, no network
    ],
)
def test_good_configs_pass(cfg_factory, overrides):
    validate(cfg_factory(*overrides))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "backbone=vgg61",
            r"^unknown backbone=vgg61 \(did you mean vgg16\?\): choose one of .*mobilenet_v2.*e.g. backbone=vgg16$",
        ),
        ("objective=inversio", r"^unknown objective=inversio \(did you mean inversion\?\)"),
        ("stepz=3", r"^unknown key stepz \(did you mean steps\?\).*add a new key with \+stepz=3$"),
        ("optimizer.optim.lrr=3", r"^unknown key optimizer.optim.lrr \(did you mean optimizer.optim.lr\?\)"),
        ("layer=[a,b", r"^cannot parse the override 'layer=\[a,b' \(.*\): see https://hydra.cc"),
    ],
)
def test_hydra_errors_become_one_line_with_close_matches(override, message):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"), pytest.raises(HydraException) as info:
        compose("config", overrides=[override])
    line = hydra_problem(info.value)
    assert re.search(message, line) and "\n" not in line, line


def test_a_run_directory_hydra_cannot_write_is_one_line_naming_it():
    # what Hydra raises making a read-only run directory's .hydra/ (root writes anywhere, so it is built here)
    line = hydra_problem(PermissionError(13, "Permission denied", "runs/shared/.hydra"))
    assert line == (
        "cannot write runs/shared/.hydra (Permission denied): give the run a directory you can write, "
        "e.g. hydra.run.dir=outputs/mine"
    )


# --- random overrides --------------------------------------------------------------------------------------


@contextmanager
def within(seconds: int):
    """Fail instead of hanging: SIGALRM after `seconds`."""

    def timeout(*_):
        raise TimeoutError(f"validation took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


GROUPS = {
    "objective": ["inversion", "class_score", "activation", "saliency", "finetune"],
    "backbone": ["vgg16", "mobilenet_v2"],
}
KEYS = [
    "image_size",
    "steps",
    "seed",
    "image_every",
    "checkpoint_every",
    "layer",
    "target",
    "method",
    "resume",
    "optimizer.optim",
    "optimizer.optim.lr",
    "optimizer.final_steps",
    "optimizer.final_lr_factor",
    "objective.feature_weight",
    "objective.terms",
    "objective.batch",
    "objective.diversity",
    "objective.name",
    "method.layer",
    "objective.diversity_layer",
    "prior.penalties",
    "prior.penalties.0.weight",
    "trainer.log_every_n_steps",
    "backbone.arch",
    "backbone.weights",
    "backbone.channels_last",
    "dataset",
]
WORDS = [
    "block5_conv3",
    "block1_conv1",
    "features.28",
    "logits",
    "tabby",
    "gradcam",
    "out_relu",
    "x",
    "",
    "..",
    "../etc",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["layer", "channel", "weight", "_target_", "lr"]), scalars, max_size=3),
)

LAYERS = ["block1_conv1", "block5_conv3", "block5_pool", "blok5_conv3", "features.28", "logits"]
LAYERS += ["block_1_expand_relu", "block_16_project_BN", "out_relu"]  # MobileNetV2's
layers = st.sampled_from(LAYERS)
# values of the right kind for each key, numbers in range (the bad ones are cases above), so that most examples
# get past the type checks to the objective's own checks and the network's (layers, classes, sizes)
PLAUSIBLE = {
    "image_size": st.integers(8, 48),
    "steps": st.one_of(st.none(), st.integers(1, 5)),
    "seed": st.integers(0, 99),
    "image_every": st.integers(0, 5),
    "checkpoint_every": st.integers(0, 5),
    "layer": st.one_of(layers, st.lists(layers, min_size=1, max_size=2)),
    "target": st.one_of(
        st.sampled_from(["tabby", "tabbby", "disc", 1, 999, 1000, -1, None]),
        st.lists(st.sampled_from(["tabby", 3, 1000]), min_size=1, max_size=2),
    ),
    "optimizer.optim.lr": st.sampled_from([1e-3, 0.05, 1.0]),
    "optimizer.final_steps": st.integers(0, 3),
    "objective.feature_weight": st.sampled_from([1, 100, 300.0]),
    "objective.channel": st.one_of(st.none(), st.integers(-1, 600), st.sampled_from(["all", "0:4", [3, 7]])),
    "objective.neuron": st.sampled_from([None, "center", [0, 0], [99, 99], "corner"]),
    "objective.terms": st.one_of(
        st.none(),
        st.lists(
            st.fixed_dictionaries(
                {"layer": layers, "channel": st.integers(0, 600), "weight": st.sampled_from([1, -0.5])}
            ),
            min_size=1,
            max_size=2,
        ),
    ),
    "objective.batch": st.integers(1, 3),
    "objective.diversity": st.sampled_from([0, 10.0]),
    "method.layer": layers,
    "prior.penalties.0.weight": st.sampled_from([0.01, 1.0]),
    "trainer.log_every_n_steps": st.integers(1, 10),
    "backbone.weights": st.sampled_from([None, "IMAGENET1K_V1", "IMAGENET1K_V9"]),
    "backbone.channels_last": st.booleans(),
}
plausible_change = st.sampled_from(sorted(PLAUSIBLE)).flatmap(lambda key: st.tuples(st.just(key), PLAUSIBLE[key]))
# one example in four also gets one change of any kind to any key, so that the type checks are still exercised
any_change = st.integers(0, 3).flatmap(lambda n: st.tuples(st.sampled_from(KEYS), values) if n == 0 else st.none())

_composed: dict[tuple[str, str], object] = {}


def composed(objective: str, backbone: str, folder: Path):
    """The composed config of a group choice (cached: composing takes longer than validating)."""
    if (objective, backbone) not in _composed:
        small = ["backbone.weights=null", "image_size=32", "logger=none"]
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose("config", overrides=[*small, f"objective={objective}", f"backbone={backbone}"])
        with open_dict(cfg):
            cfg.output_dir = str(folder)
        _composed[(objective, backbone)] = cfg
    return copy.deepcopy(_composed[(objective, backbone)])


def stage(err: ConvisError) -> str:
    """The step of validate() that raised `err`."""
    names = [frame.name for frame in traceback.extract_tb(err.__traceback__)]
    return names[names.index("validate") + 1] if names[-1] != "validate" else "validate"


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    objective=st.sampled_from(GROUPS["objective"]),
    backbone=st.sampled_from(GROUPS["backbone"]),
    changes=st.lists(plausible_change, min_size=1, max_size=3),
    other=any_change,
)
def test_random_overrides_give_a_convis_error_or_pass(tmp_path, objective, backbone, changes, other):
    cfg = composed(objective, backbone, tmp_path)
    with open_dict(cfg):
        for key, value in [*changes, *([other] if other else [])]:
            try:
                OmegaConf.update(cfg, key, value, merge=False)
            except Exception:  # OmegaConf refuses the value itself (e.g. a key under a number): not a config
                event("not a config")
                return
    with within(20):
        try:
            validate(cfg)
        except ConvisError as err:
            event(f"ConvisError in {stage(err)}")
            assert str(err) and "\n" not in str(err), str(err)
        else:
            event("valid")


GROUP_KEYS = ["backbone", "objective", "prior", "method", "optimizer", "hydra/launcher"]
# the way people write override values (words, numbers, lists, dicts, a group's options and near misses),
# and now and then raw text, so that most strings parse and reach Hydra's checks of keys and options
override_values = st.one_of(
    st.sampled_from([*WORDS, "vgg61", "inversio", "joblib", "null", "true"]),
    st.integers(-5, 10**4).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.lists(st.sampled_from(WORDS[:6]), max_size=3).map(lambda items: f"[{','.join(items)}]"),
    st.dictionaries(
        st.sampled_from(["layer", "channel", "weight"]), st.sampled_from(["block1_conv1", "3", "-0.5"])
    ).map(lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"),
    st.text(alphabet="abc_019.,[]{}:'\"=~ +-$", max_size=10),
)
group_values = {key: st.one_of(st.sampled_from(options(key)), override_values) for key in GROUP_KEYS[:-1]}


def problem_kind(line: str) -> str:
    """What Hydra's refusal was about, for the statistics: parsing, a key, a group's option, or something else."""
    return next((kind for kind in ("cannot parse", "unknown key", "unknown") if line.startswith(kind)), "other")


@settings(max_examples=60, deadline=None)
@given(
    override=st.sampled_from([*KEYS, *GROUP_KEYS, "stepz", "+new", "~steps"]).flatmap(
        lambda key: st.tuples(st.just(key), group_values.get(key, override_values))
    )
)
def test_random_override_strings_compose_or_give_one_line(override):
    key, text = override
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        try:
            compose("config", overrides=[f"{key}={text}"])
        except Exception as err:  # run.py prints this line for whatever Hydra raises before a job starts
            line = hydra_problem(err)
            event(problem_kind(line))
            assert line and "\n" not in line, line
        else:
            event("composed")


def test_validation_reads_no_weights_and_no_data(cfg_factory):
    # both are checked where they are read (the backbone's loading, the dataset): validation stays cheap
    validate(cfg_factory("backbone.weights=/no/such/weights.pth", "dataset.path=/no/such/picture.jpg"))
