"""What a run tells its user on the console: the config at the start, where the outputs are at the end."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from convis.runtime.provenance import composed_config, redact

log = logging.getLogger("convis")
SHOWN = ("metrics.json", "images", "maps", "checkpoints", "history.csv", "provenance.json")


def show_config(cfg: DictConfig) -> None:
    """Print the composed config, secrets redacted: a tree of the top-level keys with rich, else plain YAML."""
    data = redact(composed_config(cfg))
    try:
        from rich.console import Console
        from rich.syntax import Syntax
        from rich.tree import Tree
    except ImportError:
        print(OmegaConf.to_yaml(data), flush=True)
        return
    yaml = lambda value: Syntax(OmegaConf.to_yaml(value).rstrip(), "yaml", theme="ansi_dark")  # noqa: E731
    tree = Tree("[bold]config[/bold] (print_config=true shows it)", guide_style="dim")
    for key, value in data.items():
        if isinstance(value, dict) and value:
            tree.add(f"[bold]{key}[/bold]").add(yaml(value))
        else:
            tree.add(yaml({key: value}))  # as YAML, not as rich markup: a list's [...] would read as a tag
    Console(soft_wrap=True).print(tree)


def show_outputs(output_dir: Path, metrics: dict) -> None:
    """Log where the run's outputs are and how to make its report."""
    present = [name for name in SHOWN if (output_dir / name).exists()]
    results = metrics.get("results", [])
    missed = sum(result.get("reached") is False for result in results)
    counted = f"{len(results)} result(s)" + (f", {missed} not reached" if missed else "")
    log.info("done: %s in %s (%s)", counted, output_dir, ", ".join(present))
    log.info("report: python scripts/report.py %s", output_dir)
    if any((output_dir / "wandb").glob("offline-run-*")):
        log.info("W&B (offline): wandb sync %s", output_dir / "wandb" / "offline-run-*")
