"""The exception types convis raises for a user's mistake, and the one-line messages the CLI prints."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable

from hydra.errors import InstantiationException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException


class ConvisError(Exception):
    """Bad input from the user: the message names the bad value and what to type instead."""


class NonFiniteLoss(ConvisError):
    """A loss term went NaN or Inf: the run stops, keeping its last image whose losses were finite.

    At step 1 the loss is that of the starting image, before any update: the learning rate is not the cause.
    """

    def __init__(self, term: str, step: int, value: float) -> None:
        shown = "NaN" if math.isnan(value) else "Inf" if value > 0 else "-Inf"
        advice = (
            "it was so before the first update, so the learning rate is not the cause: the network's weights or "
            "its input hold non-finite values, or the network overflows at this precision (trainer.precision=32-true)"
            if step <= 1
            else "lower the learning rate (optimizer.optim.lr) or the objective's weights"
        )
        super().__init__(
            f"loss term {term} became {shown} at step {step}; the last finite image is in partial/: {advice}"
        )
        self.term, self.step, self.value = term, step, value


def unknown(key: str, value: object, valid: Iterable[object]) -> ConvisError:
    """The error for `key=value` outside a fixed set of choices: the closest ones first, then them all."""
    choices = [str(choice) for choice in valid]
    if not choices:
        return ConvisError(f"unknown {key}={value}: there is nothing to choose from")
    close = difflib.get_close_matches(str(value), choices, n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(close)}?)" if close else ""
    return ConvisError(
        f"unknown {key}={value}{hint}: choose one of {', '.join(choices)}, e.g. {key}={(close or choices)[0]}"
    )


def convis_cause(err: BaseException) -> ConvisError | None:
    """The ConvisError `err` is or was raised from (Hydra's instantiate wraps them), else None."""
    while err is not None and not isinstance(err, ConvisError):
        err = err.__cause__
    return err


def user_error(err: BaseException) -> ConvisError | None:
    """The user's mistake behind `err`: a ConvisError, or a config value Hydra could not build an object from."""
    if (cause := convis_cause(err)) is None and isinstance(err, InstantiationException):
        return ConvisError(one_line(str(err)))
    return cause


def one_line(message: str) -> str:
    """A multi-line library message as one line, without its search paths, links and key dumps."""
    noise = ("See https://", "Config search path", "provider=", "full_key:", "object_type=", "Available options")
    kept = [line.strip().rstrip(".:") for line in message.splitlines()]
    kept = [line for line in kept if line and not line.startswith(noise) and not line.startswith("\t")]
    return "; ".join(kept)


def hydra_problem(err: Exception) -> str:
    """The one line to print for a command line Hydra could not compose (bad option, key, value or syntax).

    Hydra's messages repeat the overrides, so secrets (`+logger.api_key=...`, the environment's keys) are scrubbed.
    """
    from convis.runtime.provenance import scrub  # provenance imports this module

    return scrub(_hydra_problem(err))


def _hydra_problem(err: Exception) -> str:
    if isinstance(err, PermissionError) and err.filename:  # Hydra making the run directory or its .hydra/ files
        return (
            f"cannot write {err.filename} ({err.strerror or 'permission denied'}): give the run a directory you can "
            "write, e.g. hydra.run.dir=outputs/mine"
        )
    if isinstance(err, MissingConfigException) and err.options is not None and err.missing_cfg_file:
        group, _, value = err.missing_cfg_file.rpartition("/")
        return str(unknown(group, value, err.options))
    if isinstance(err, OverrideParseException):
        grammar = "https://hydra.cc/docs/advanced/override_grammar/basic"
        return f"cannot parse the override {err.override!r} ({one_line(err.message)}): see {grammar} for the syntax"
    cause = err.__cause__
    if isinstance(cause, OmegaConfBaseException) and "Could not override" in str(err):
        return unknown_key(cause, str(err))
    return one_line(str(err)) or f"{type(err).__name__} while reading the command line"


def unknown_key(cause: OmegaConfBaseException, message: str) -> str:
    """An override of a key the config lacks: the closest keys beside it, and how to add a new one."""
    full_key = str(getattr(cause, "full_key", "") or "")
    parent = getattr(cause, "parent_node", None)
    siblings = [str(k) for k in parent.keys()] if hasattr(parent, "keys") else []
    name = full_key.rpartition(".")[2]
    close = difflib.get_close_matches(name, siblings, n=3, cutoff=0.5)
    prefix = full_key[: len(full_key) - len(name)]
    hint = f" (did you mean {' or '.join(prefix + c for c in close)}?)" if close else ""
    add = next((line.split(" use ", 1)[1] for line in message.splitlines() if " use +" in line), f"+{full_key}=...")
    return (
        f"unknown key {full_key}{hint}: check the spelling (python run.py --cfg job shows every key), "
        f"or add a new key with {add}"
    )
