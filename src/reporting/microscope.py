"""The microscope's static site: an index of layers, a grid page per layer and a page per unit (channel).

The pages read straight from the files (file://, no server): the search data is a script file, not JSON to
fetch, and every picture is one of the PNGs already under the microscope's root, linked by a relative path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import DictLoader, Environment

from convis.runtime.writers import safe_name, write_text

INDEX = "index.html"
SEARCH_DATA = "assets/units.js"
SCRIPT = "assets/microscope.js"
STYLESHEET = "assets/microscope.css"
NO_LABEL = "no label: no concept passes the IoU threshold"
THUMB = 96  # px: a visualisation in a grid or a search result
CROP = 64  # px: an exemplar's receptive-field crop in a grid
CHART_WIDTH, CHART_HEIGHT, CHART_MARGIN = 480, 150, 28  # the histogram's SVG, in its own units

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 1.5em; border-bottom: 1px solid #ddd; font-size: 1.2em; }
a { color: #0645ad; } nav { margin: 0.5em 0 1em; font-size: 0.9em; } nav a, nav span { margin-right: 1.2em; }
.off { color: #888; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #f4f4f4; }
table.inversions td { border: none; padding: 2px; text-align: center; }
figure { margin: 0; } figcaption { font-size: 0.8em; color: #555; overflow-wrap: anywhere; }
img { image-rendering: pixelated; background: #eee; }
.missing { display: inline-flex; align-items: center; justify-content: center; background: #f4f4f4; color: #888;
  font-size: 0.75em; text-align: center; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; }
.cell { display: block; width: 170px; border: 1px solid #ddd; padding: 4px; text-decoration: none; color: #222; }
.cell:hover { border-color: #888; } .cell .pictures { display: flex; gap: 4px; align-items: flex-end; }
.cell .caption { font-size: 0.8em; margin-top: 2px; overflow-wrap: anywhere; }
.weak { color: #b00020; font-weight: bold; }
.warning { border: 2px solid #b00020; background: #fdecee; color: #b00020; padding: 0.5em 0.8em; font-weight: bold; }
.filter { background: #f8f8f8; border: 1px solid #ddd; padding: 0.6em 0.8em; margin: 1em 0; }
.filter label { margin-right: 1.5em; font-size: 0.9em; } .filter input { width: 14em; }
.filter .count { font-size: 0.85em; color: #555; margin: 0.4em 0 0; }
.filter :is(.count, .matches):empty { display: none; }
.matches { list-style: none; padding: 0; margin: 0.4em 0 0; display: flex; flex-wrap: wrap; gap: 6px; }
.matches a { display: flex; gap: 6px; align-items: center; border: 1px solid #ddd; padding: 3px 6px 3px 3px;
  background: #fff; text-decoration: none; color: #222; font-size: 0.85em; }
.examples { display: flex; flex-wrap: wrap; gap: 10px; } .examples figure { width: 124px; }
svg.histogram { width: 100%; max-width: 640px; } svg .bar { fill: #4a78b5; } svg text { font-size: 10px; fill: #555; }
"""

SEARCH_SCRIPT = """"use strict";
// The filter boxes: units by concept or category (prefix of either, best IoU first) and by channel
// ("3", "layer:3" or "layer:"), from the array that assets/units.js sets. DOM nodes only: no HTML from data.
(function () {
  const root = document.body.dataset.root || "";
  const units = window.CONVIS_MICROSCOPE || [];
  const LIMIT = 200;

  function byConcept(query) {
    const q = query.trim().toLowerCase();
    return (u) => !q || [u.label, u.category].some((s) => s && s.toLowerCase().startsWith(q));
  }

  function byChannel(query) {
    const q = query.trim();
    const colon = q.lastIndexOf(":");
    const number = /^[0-9]+$/.test(q);
    const layer = colon < 0 ? (number ? "" : q) : q.slice(0, colon);
    const channel = colon < 0 ? (number ? q : "") : q.slice(colon + 1).trim();
    const sameLayer = (u) => !layer || (colon < 0 ? u.layer.startsWith(layer) : u.layer === layer);
    return (u) => sameLayer(u) && (!channel || String(u.channel) === channel);
  }

  function entry(u) {
    const link = document.createElement("a");
    link.href = root + u.href;
    if (u.thumbnail) {
      const img = document.createElement("img");
      img.src = root + u.thumbnail;
      img.width = 48;
      img.alt = "";
      link.append(img);
    }
    const label = u.label ? " " + u.label + " (" + u.category + ", IoU " + u.iou.toFixed(2) + ")" : "";
    const text = document.createElement("span");
    text.textContent = u.layer + ":" + u.channel + label;
    link.append(text);
    const item = document.createElement("li");
    item.append(link);
    return item;
  }

  function update(box) {
    const concept = box.querySelector("input.concept").value;
    const channel = box.querySelector("input.channel").value;
    const list = box.querySelector(".matches");
    const count = box.querySelector(".count");
    list.replaceChildren();
    count.textContent = "";
    if (!concept.trim() && !channel.trim()) return;
    const scope = box.dataset.layer;
    const [named, numbered] = [byConcept(concept), byChannel(channel)];
    const found = units.filter((u) => (scope === undefined || u.layer === scope) && named(u) && numbered(u));
    if (concept.trim()) found.sort((a, b) => (b.iou || 0) - (a.iou || 0));
    list.append(...found.slice(0, LIMIT).map(entry));
    const shown = found.length > LIMIT ? "showing " + LIMIT + " of " : "";
    const plural = found.length === 1 ? "" : "s";
    count.textContent = found.length ? shown + found.length + " unit" + plural : "no unit matches";
  }

  for (const box of document.querySelectorAll(".filter")) {
    for (const input of box.querySelectorAll("input")) input.addEventListener("input", () => update(box));
    update(box);
  }
})();
"""

BASE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{% block title %}{% endblock %}</title>
<link rel="stylesheet" href="{{ up }}{{ stylesheet }}">
</head>
<body data-root="{{ up }}">
{% block content %}{% endblock %}
</body>
</html>
"""

FILTER = """<div class="filter"{% if scope is not none %} data-layer="{{ scope }}"{% endif %}>
<label>Concept or category <input type="search" class="concept" placeholder="e.g. red, colour"></label>
<label>Channel <input type="search" class="channel" placeholder="{{ (scope or 'layer') ~ ':3' }} or 3"></label>
<p class="count"></p>
<ul class="matches"></ul>
</div>
<script src="{{ up }}{{ search_data }}"></script>
<script src="{{ up }}{{ script }}"></script>"""

MACROS = """{% macro picture(path, width, alt, missing) %}
{%- if path %}<img src="{{ path | url(up) }}" width="{{ width }}" alt="{{ alt }}">
{%- else %}<span class="missing" style="width: {{ width }}px; height: {{ width }}px">{{ missing }}</span>
{%- endif %}{% endmacro %}
{% macro label_text(label) %}
{%- if label %}<b>{{ label.concept }}</b> ({{ label.category }}, IoU {{ "%.2f" | format(label.iou) }})
{%- else %}{{ no_label }}{% endif %}{% endmacro %}"""

INDEX_PAGE = """{% extends "base" %}{% from "macros" import picture with context %}
{% block title %}{{ title }}{% endblock %}
{% block content %}<h1>{{ title }}</h1>
{% for line in intro %}<p class="intro">{{ line }}</p>
{% endfor %}{% set scope = none %}{% include "filter" %}
<h2>Layers</h2>
<table class="layers">
<tr><th>Layer</th><th>Channels</th><th>Units</th><th>Labels per category</th>
<th>Inversions (original above, reconstruction below)</th></tr>
{% for layer in layers %}<tr>
<td><a href="{{ layer.href | url(up) }}">{{ layer.layer }}</a></td>
<td>{{ layer.channels }}</td><td>{{ layer.units }}</td>
<td>{% for category, count in layer.label_counts.items() %}{{ category }}: {{ count }}<br>
{%- else %}<span class="off">no labels</span>{% endfor %}</td>
<td>{% if layer.inversions %}<table class="inversions"><tr>
{% for inversion in layer.inversions %}<td>{{ picture(inversion.original, 64, inversion.image, "no original") }}</td>
{% endfor %}</tr><tr>
{% for inversion in layer.inversions %}<td><figure>
{{- picture(inversion.png, 64, "reconstruction of " ~ inversion.image, "none") }}
<figcaption>{{ inversion.image }}<br>error {{ "%.3g" | format(inversion.normalized_error) }}</figcaption></figure></td>
{% endfor %}</tr></table>{% else %}<span class="off">none</span>{% endif %}</td>
</tr>
{% endfor %}</table>
{% endblock %}
"""

LAYER_PAGE = """{% extends "base" %}{% from "macros" import picture with context %}
{% block title %}{{ layer.layer }}: {{ title }}{% endblock %}
{% block content %}<nav><a href="{{ index | url(up) }}">&larr; index</a></nav>
<h1>Layer {{ layer.layer }}</h1>
<p>{{ units | length }} of {{ layer.channels }} channels; each shows its feature visualisation and the crop of its
strongest dataset example. <span class="weak">&#9888;</span> marks a visualisation weaker than that example.</p>
{% set scope = layer.layer %}{% include "filter" %}
<div class="grid">
{% for unit in units %}<a class="cell" href="{{ unit.href | url(up) }}">
<div class="pictures">{{ picture(unit.visualisation, thumb, "visualisation", "no visualisation") }}
{{ picture(unit.exemplars[0].png if unit.exemplars else none, crop, "top example", "no example") }}</div>
<div class="caption"><b>{{ unit.channel }}</b>
{%- if unit.label %} {{ unit.label.concept }} ({{ "%.2f" | format(unit.label.iou) }}){% endif %}
{%- if unit.trust and unit.trust.weaker_than_examples %}
<span class="weak" title="the visualisation activates the unit less than its strongest dataset example">&#9888;</span>
{%- endif %}</div>
</a>
{% endfor %}</div>
{% endblock %}
"""

UNIT_PAGE = """{% extends "base" %}{% from "macros" import picture, label_text with context %}
{% block title %}{{ unit.layer }}:{{ unit.channel }}: {{ title }}{% endblock %}
{% block content %}<nav>
{% if previous %}<a class="previous" href="{{ previous.href | url(up) }}">&larr; channel {{ previous.channel }}</a>
{%- else %}<span class="off">&larr; first channel</span>{% endif %}
<a class="layer" href="{{ layer_href | url(up) }}">layer {{ unit.layer }}</a>
<a class="index" href="{{ index | url(up) }}">index</a>
{% if next %}<a class="next" href="{{ next.href | url(up) }}">channel {{ next.channel }} &rarr;</a>
{%- else %}<span class="off">last channel &rarr;</span>{% endif %}
</nav>
<h1>{{ unit.layer }}, channel {{ unit.channel }}</h1>
<p class="label">Label: {{ label_text(unit.label) }}</p>
<h2>Feature visualisation</h2>
{{ picture(unit.visualisation, 224, "feature visualisation", "no visualisation made") }}
{% if unit.diverse %}<h3>Diverse visualisations</h3><div class="examples">
{% for path in unit.diverse %}{{ picture(path, 110, "diverse visualisation " ~ loop.index, "none") }}
{% endfor %}</div>{% endif %}
<h2>Trust</h2>
{% set trust = unit.trust %}{% if trust %}
{% if trust.weaker_than_examples %}<p class="warning">Warning: this visualisation activates the unit less than
real images do, so it may not show what the unit responds to.</p>{% endif %}
{% if trust.ratio is number %}<p class="ratio">The visualisation activates the unit
{{ "%.2f" | format(trust.ratio) }}x as much as its strongest dataset example
{%- if trust.visualisation_activation is number and trust.top_example_activation is number %}
({{ "%.3g" | format(trust.visualisation_activation) }} against {{ "%.3g" | format(trust.top_example_activation) }})
{%- endif %}.</p>{% endif %}
{% if trust.robustness is number %}<p class="robustness">It keeps {{ "%.0f" | format(100 * trust.robustness) }}%
of its activation under random crops and flips.</p>{% endif %}
{% else %}<p class="off">No trust measures for this unit.</p>{% endif %}
<h2>Dataset examples: strongest first</h2>
{% macro examples(found, none_text) %}{% if found %}<div class="examples">
{% for example in found %}<figure>{{ picture(example.png, 110, example.image, "no crop") }}
<figcaption>{{ example.image }}<br>activation {{ "%.3g" | format(example.activation) }}
{%- if example.position %}<br>at {{ example.position | join(", ") }}{% endif %}</figcaption></figure>
{% endfor %}</div>{% else %}<p class="off">{{ none_text }}</p>{% endif %}{% endmacro %}
{{ examples(unit.exemplars, "No dataset examples.") }}
{% if unit.least %}<h2>Least activating examples: weakest first</h2>
{{ examples(unit.least, "") }}{% endif %}
<h2>Activation over the dataset</h2>
{% if chart %}<p>How many images reach each maximum activation of the unit.</p>
<svg class="histogram" viewBox="0 0 {{ chart.width }} {{ chart.height }}" role="img"
 aria-label="histogram of the unit's maximum activation per image">
{% for bar in chart.bars %}<rect class="bar" x="{{ bar.x }}" y="{{ bar.y }}" width="{{ bar.width }}"
 height="{{ bar.height }}"><title>{{ bar.title }}</title></rect>
{% endfor %}<line x1="{{ chart.left }}" y1="{{ chart.bottom }}" x2="{{ chart.right }}" y2="{{ chart.bottom }}"
 stroke="#888"/>
<text x="{{ chart.left }}" y="{{ chart.bottom + 14 }}">{{ chart.low }}</text>
<text x="{{ chart.right }}" y="{{ chart.bottom + 14 }}" text-anchor="end">{{ chart.high }}</text>
<text x="{{ (chart.left + chart.right) / 2 }}" y="{{ chart.bottom + 14 }}" text-anchor="middle">
maximum activation in an image</text>
<text x="{{ chart.left - 4 }}" y="{{ chart.top + 8 }}" text-anchor="end">{{ chart.peak }}</text>
<text x="{{ chart.left - 4 }}" y="{{ chart.bottom }}" text-anchor="end">0</text>
</svg>{% else %}<p class="off">No histogram.</p>{% endif %}
{% endblock %}
"""


@dataclass
class Chart:
    """The histogram's bars and axis labels in SVG units."""

    bars: list[dict[str, Any]]
    low: str
    high: str
    peak: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_MARGIN + 8
    right: int = CHART_WIDTH - 4
    top: int = 4
    bottom: int = CHART_HEIGHT - CHART_MARGIN + 8


def url(path: str, up: str) -> str:
    """A root-relative path as a link from a page `up` ("../" per folder) below the root, percent-encoded."""
    return up + quote(str(path))


def layer_href(layer: str) -> str:
    return f"layers/{safe_name(layer)}.html"


def unit_href(layer: str, channel: int) -> str:
    return f"units/{safe_name(layer)}/{channel}.html"


def thumbnail(unit: dict[str, Any]) -> str | None:
    """The unit's picture in search results: its visualisation, else its strongest example's crop."""
    return unit.get("visualisation") or next((e["png"] for e in unit.get("exemplars") or []), None)


def chart(histogram: dict[str, Any] | None) -> Chart | None:
    """The histogram as SVG bars, one per count, heights scaled to the largest count; None without counts."""
    counts = (histogram or {}).get("counts") or []
    if not counts:
        return None
    edges = histogram["edges"]
    plot = Chart([], f"{edges[0]:.3g}", f"{edges[-1]:.3g}", max(counts))
    step = (plot.right - plot.left) / len(counts)
    for i, count in enumerate(counts):
        height = (plot.bottom - plot.top) * count / (plot.peak or 1)
        title = f"{edges[i]:.3g} to {edges[i + 1]:.3g}: {count} image{'s' * (count != 1)}"
        bar = {"x": plot.left + i * step, "width": max(step - 1, 0.5), "y": plot.bottom - height, "height": height}
        plot.bars.append({key: round(value, 2) for key, value in bar.items()} | {"title": title})
    return plot


def search_entry(unit: dict[str, Any]) -> dict[str, Any]:
    """What the filter boxes know of a unit; its paths root-relative and percent-encoded."""
    label = unit.get("label") or {}
    picture = thumbnail(unit)
    return {
        "layer": unit["layer"],
        "channel": unit["channel"],
        "label": label.get("concept"),
        "category": label.get("category"),
        "iou": label.get("iou"),
        "thumbnail": quote(picture) if picture else None,
        "href": quote(unit_href(unit["layer"], unit["channel"])),
    }


def by_layer(units: Sequence[dict[str, Any]], layers: Sequence[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each layer's units in channel order; a unit of an unlisted layer, or two layers sharing a page, is an error."""
    names = [layer["layer"] for layer in layers]
    pages = {safe_name(name) for name in names}
    if len(pages) != len(names):
        raise ValueError(f"two layers would share a page (same name once made safe): {names}")
    grouped: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    unknown = sorted({str(unit["layer"]) for unit in units if unit["layer"] not in grouped})
    if unknown:
        raise ValueError(f"units of layers not in the layer list: {', '.join(unknown)}")
    for unit in units:
        grouped[unit["layer"]].append(unit)
    return {name: sorted(found, key=lambda unit: unit["channel"]) for name, found in grouped.items()}


def environment(title: str) -> Environment:
    """The site's templates, autoescaped, with the names every page uses."""
    templates = {"base": BASE, "filter": FILTER, "macros": MACROS, "index": INDEX_PAGE, "layer": LAYER_PAGE}
    env = Environment(loader=DictLoader(templates | {"unit": UNIT_PAGE}), autoescape=True, keep_trailing_newline=True)
    env.filters["url"] = url
    names = {"index": INDEX, "stylesheet": STYLESHEET, "search_data": SEARCH_DATA, "script": SCRIPT}
    env.globals.update(names, title=title, no_label=NO_LABEL, thumb=THUMB, crop=CROP)
    return env


def write_assets(root: Path, grouped: dict[str, list[dict[str, Any]]]) -> None:
    """The stylesheet, the filter script and its data (every unit, in index order) as a script setting a global."""
    entries = [search_entry(unit) for found in grouped.values() for unit in found]
    write_text(f"window.CONVIS_MICROSCOPE = {json.dumps(entries)};\n", root / SEARCH_DATA)
    write_text(SEARCH_SCRIPT, root / SCRIPT)
    write_text(STYLE, root / STYLESHEET)


def linked(units: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The units' records, each with the root-relative path of its page."""
    return [dict(unit, href=unit_href(unit["layer"], unit["channel"])) for unit in units]


def write_units(root: Path, env: Environment, pages: list[dict[str, Any]]) -> None:
    """One page per unit of a layer (`linked`, in channel order), each linking to its neighbours."""
    template = env.get_template("unit")
    for i, unit in enumerate(pages):
        neighbours = {"previous": pages[i - 1] if i else None, "next": pages[i + 1] if i + 1 < len(pages) else None}
        page = template.render(
            up="../../",
            unit=unit,
            layer_href=layer_href(unit["layer"]),
            chart=chart(unit.get("histogram")),
            **neighbours,
        )
        write_text(page, root / unit["href"])


def write_site(
    root: Path, units: list[dict[str, Any]], layers: list[dict[str, Any]], title: str, intro: Sequence[str] = ()
) -> Path:
    """Write the microscope's pages under `root` (which holds its PNGs): index.html, a page per layer, a page per
    unit, and the assets they share; the index page's path."""
    root = Path(root)
    grouped = by_layer(units, layers)
    env = environment(title)
    write_assets(root, grouped)
    layer_template = env.get_template("layer")
    rows = []
    for layer in layers:
        pages = linked(grouped[layer["layer"]])
        write_text(layer_template.render(up="../", layer=layer, units=pages), root / layer_href(layer["layer"]))
        write_units(root, env, pages)
        optional = {"inversions": layer.get("inversions") or [], "label_counts": layer.get("label_counts") or {}}
        rows.append(dict(layer, href=layer_href(layer["layer"]), units=len(pages)) | optional)
    index = env.get_template("index").render(up="", layers=rows, intro=list(intro))
    return write_text(index, root / INDEX)
