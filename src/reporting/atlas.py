"""The layer atlas: every channel of a layer in one grid, each captioned with its index and final activation.

Its pictures are the activation results that name one channel, gathered over all the runs of a directory,
so an atlas split over the jobs of a sweep (`-m objective.channel=0:256,256:512`) comes back whole. Runs
that differ in another swept key (a seed, a prior) get an atlas each.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment

from convis.reporting.grid import header, swept
from convis.reporting.html import SETUP, SETUP_STYLE, png_uri
from convis.reporting.markdown import code, link, setup_line
from convis.reporting.runs import Run, Setup, setups
from convis.runtime.writers import write_text

PAGE = "atlas.html"
MARKDOWN = "atlas.md"
SPLIT_KEY = "objective.channel"  # what the jobs of one atlas differ in
MAX_COLUMNS = 16


@dataclass
class Atlas:
    """One layer's channels in index order: (channel, final activation, PNG)."""

    title: str
    cells: list[tuple[int, float, Path]] = field(default_factory=list)

    @property
    def columns(self) -> int:
        return min(MAX_COLUMNS, math.ceil(math.sqrt(len(self.cells))))

    def rows(self) -> list[list[tuple[int, float, Path]]]:
        return [self.cells[i : i + self.columns] for i in range(0, len(self.cells), self.columns)]


def is_channel(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def atlases(runs: Sequence[Run]) -> list[Atlas]:
    """An atlas per layer (and neuron position, and value of the other swept keys) with two channels or more."""
    keys = [key for key in swept(runs) if key != SPLIT_KEY]
    found: dict[str, dict[int, tuple[float, Path]]] = {}
    for run in runs:
        if (run.metrics or {}).get("objective") != "activation":
            continue
        context = header(keys, [run.overrides.get(key, "") for key in keys]) if keys else ""
        for result in run.results:
            if not (is_channel(result.get("channel")) and result.get("png")):
                continue
            where = f" at {result['neuron']}" if result.get("neuron") else ""
            title = f"{result['layer']}{where}" + (f" ({context})" if context else "")
            found.setdefault(title, {}).setdefault(result["channel"], (result["activation"], run.path / result["png"]))
    return [
        Atlas(title, [(c, *picked[c]) for c in sorted(picked)]) for title, picked in found.items() if len(picked) > 1
    ]


TEMPLATE = (
    SETUP
    + """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1600px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; } td { padding: 2px; text-align: center; vertical-align: top; }
img { width: 96px; image-rendering: pixelated; display: block; margin: auto; }
figure { margin: 0; } figcaption { font-size: 0.7em; color: #555; }
"""
    + SETUP_STYLE
    + """
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% for s in setups %}{{ setup_line(s) }}
{% endfor %}<p>Runs in <code>{{ name }}</code>.</p>
<p>Each picture maximises one channel; its caption is the channel's index and its final activation.</p>
{% for atlas in atlases %}<h2>{{ atlas.title }}: {{ atlas.cells | length }} channels</h2>
<table class="atlas">
{% for row in atlas.rows() %}<tr>{% for channel, value, png in row %}
<td><figure><img src="{{ png | png }}" alt="channel {{ channel }}">
<figcaption>{{ channel }}: {{ "%.4g" | format(value) }}</figcaption></figure></td>{% endfor %}</tr>
{% endfor %}</table>
{% endfor %}
</body>
</html>
"""
)


def atlas_title(ran: Sequence[Setup]) -> str:
    """The atlas's title: what its runs ran on where they ran on one setup (network, weights, size, steps)."""
    return "Layer atlas" + (f": {ran[0].text()}" if len(ran) == 1 else "")


def render_html(name: str, found: Sequence[Atlas], ran: Sequence[Setup] = ()) -> str:
    """The atlas page, self-contained (pictures embedded); `ran`: the setups of its runs, `name`: their folder."""
    env = Environment(autoescape=True, keep_trailing_newline=True)
    env.filters["png"] = png_uri
    return env.from_string(TEMPLATE).render(title=atlas_title(ran), setups=ran, name=name, atlases=found)


def render_markdown(name: str, found: Sequence[Atlas], root: Path, ran: Sequence[Setup] = ()) -> str:
    """The atlas as Markdown tables of linked pictures, captioned like the page's."""
    lines = [f"# {html.escape(atlas_title(ran))}", ""]
    lines += [item for setup in ran for item in (setup_line(setup), "")] + [f"Runs in {code(name)}.", ""]
    for atlas in found:
        lines += [f"## {html.escape(atlas.title)}: {len(atlas.cells)} channels", ""]
        lines += ["|" + " |" * atlas.columns, "|" + " --- |" * atlas.columns]
        for row in atlas.rows():
            shown = [f"{link(png, root, f'channel {c}')}<br>{c}: {value:.4g}" for c, value, png in row]
            lines.append("| " + " | ".join(shown + [""] * (atlas.columns - len(row))) + " |")
        lines.append("")
    return "\n".join(lines)


def write_atlas(root: Path, runs: Sequence[Run]) -> Path | None:
    """Write root/atlas.html and root/atlas.md when the runs hold an atlas; the page's path, else None."""
    found = atlases(runs)
    if not found:
        return None
    name = Path(root).resolve().name
    ran = setups([run for run in runs if (run.metrics or {}).get("objective") == "activation"])
    write_text(render_markdown(name, found, Path(root), ran), Path(root) / MARKDOWN)
    return write_text(render_html(name, found, ran), Path(root) / PAGE)
