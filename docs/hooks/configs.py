"""MkDocs hook: the Configs page's tables, read from conf/ when the site is built (so they cannot go stale).

Each group of conf/ becomes a table of its options: the file's leading comment and its keys with their defaults.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MARKER = "<!-- config tables -->"
SKIPPED = {"_target_", "_partial_", "_recursive_", "defaults"}
GROUPS = ["backbone", "dataset", "objective", "method", "param", "prior", "optimizer", "logger", "trainer"]
GROUPS += ["experiment", "sweep", "hydra/launcher"]


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def prose(text: str) -> str:
    """A comment as table text: underscores and stars outside `code` are literal, not emphasis."""
    parts = text.split("`")
    parts[::2] = [part.replace("_", "\\_").replace("*", "\\*") for part in parts[::2]]
    return cell("`".join(parts))


def comment(lines: list[str]) -> str:
    """The file's leading comment lines, without Hydra's package directive."""
    kept = []
    for line in lines:
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            kept.append(line.lstrip("#").strip())
    return " ".join(kept)


def value(v: object) -> str:
    text = yaml.safe_dump(v, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
    return text if len(text) <= 40 else text[:37] + "..."


def keys(data: dict, group: str, global_package: bool) -> list[str]:
    """`key=default` for each key the option sets (a global option's keys of its own group as group.key)."""
    pairs = []
    for key, v in (data or {}).items():
        if key in SKIPPED:
            continue
        if global_package and isinstance(v, dict):
            pairs += [f"{key}.{k}={value(w)}" for k, w in v.items() if k not in SKIPPED]
        else:
            pairs.append(f"{key}={value(v)}")
    return pairs


def group_table(conf: Path, group: str) -> str:
    rows = ["| option | what it is | keys and defaults |", "| --- | --- | --- |"]
    for path in sorted((conf / group).glob("*.yaml")):
        text = path.read_text()
        lines = text.splitlines()
        global_package = any(line.startswith("# @package _global_") for line in lines[:3])
        data = yaml.safe_load(text) or {}
        pairs = keys(data, group, global_package)
        described = comment(lines) or f"`{data.get('_target_', '')}`"
        listed = "<br>".join(f"`{cell(p)}`" for p in pairs)
        rows.append(f"| `{path.stem}` | {prose(described)} | {listed} |")
    return "\n".join(rows)


def top_level(conf: Path) -> str:
    """The top-level keys of config.yaml with their defaults and comments."""
    rows = ["| key | default | what it is |", "| --- | --- | --- |"]
    for line in (conf / "config.yaml").read_text().split("\nhydra:", 1)[0].splitlines():
        if not line or line[0] in " #-" or ":" not in line or line.startswith(("defaults", "report")):
            continue
        key, _, rest = line.partition(":")
        default, _, note = rest.partition("#")
        rows.append(f"| `{key}` | `{cell(default) or ' '}` | {prose(note)} |")
    return "\n".join(rows)


def tables(conf: Path) -> str:
    parts = ["## Top-level keys", "", top_level(conf)]
    for group in GROUPS:
        parts += ["", f"## {group}", "", f"`python run.py {group}=OPTION`", "", group_table(conf, group)]
    return "\n".join(parts)


def on_page_markdown(markdown: str, page, config, files) -> str:  # MkDocs calls it with these four
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, tables(Path(config["config_file_path"]).parent / "conf"))
