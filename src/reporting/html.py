"""The report as one self-contained HTML page: pictures and charts embedded as base64 data."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING

from jinja2 import Environment

if TYPE_CHECKING:
    from convis.reporting.content import Report


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_uri(path: Path) -> str:
    return data_uri(Path(path).read_bytes(), "image/png")


# The header line of a Setup: random weights in bold red, so that nobody mistakes its pictures for a trained network's.
SETUP = """{% macro setup_line(s) %}<p class="setup">Network: <b>{{ s.network or "unknown" }}</b>
{%- if s.weights %}, weights: {% if s.random %}<strong class="random">{{ s.weights }}</strong>{% else %}{{ s.weights }}{% endif %}{% endif %}
{%- if s.image_size %}, {{ s.image_size }} px{% endif %}{% if s.steps %}, {{ s.steps }} steps{% endif %}</p>{% endmacro %}"""
SETUP_STYLE = ".random { color: #b00020; } .missed { color: #b00020; font-weight: bold; }"

TEMPLATE = (
    SETUP
    + """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ r.title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; font-size: 0.9em; }
th { background: #f4f4f4; }
table.grid td, table.grid th { text-align: center; }
figure { margin: 0; } figcaption { font-size: 0.8em; color: #555; }
img.picture { width: 180px; image-rendering: pixelated; display: block; margin: auto; }
img.chart { width: 49%; min-width: 420px; }
caption { font-weight: bold; padding: 0.3em; }
code, pre { background: #f6f6f6; font-size: 0.85em; } pre { padding: 0.6em; overflow-x: auto; }
.failed { color: #b00020; font-weight: bold; }
"""
    + SETUP_STYLE
    + """
</style>
</head>
<body>
<h1>{{ r.title }}</h1>
{% for line in r.intro %}<p class="intro">{{ line }}</p>
{% endfor %}{% for s in r.setups %}{{ setup_line(s) }}
{% endfor %}<p>{{ r.runs | length }} run{{ "s" if r.runs | length != 1 }} in <code>{{ r.root }}</code>.</p>
{% if r.sweep %}<p class="sweep">{{ r.sweep }}</p>{% endif %}
{% for command in r.commands %}<p>Command: <code class="command">{{ command }}</code></p>
{% endfor %}

{% macro table(t) %}<table>
<tr>{% for h in t.headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr>{% for value in row %}<td>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endmacro %}

{% for s in r.sections %}
<h2>Pictures{% if s.title %}: {{ s.title }}{% endif %}</h2>
{% for g in s.grids %}{% set captioned = g.captioned %}
<table class="grid">
{% if not g.row_headers and g.corner %}<caption>{{ g.corner }}</caption>{% endif %}
{% if g.columns %}<tr>{% if g.row_headers %}<th>{{ g.corner }}</th>{% endif %}{% for column in g.columns %}<th>{{ column }}</th>{% endfor %}</tr>{% endif %}
{% for header, row in g.rows %}<tr>{% if g.row_headers %}<th>{{ header }}</th>{% endif %}
{% for cell in row %}<td>{% if cell %}<figure><img class="picture" src="{{ cell.png | png }}" alt="{{ cell.labels.values() | join(' ') }}">{% if captioned %}<figcaption>{{ g.caption_of(cell) }}</figcaption>{% endif %}{% if cell.missed %}<figcaption class="missed">{{ cell.missed }}</figcaption>{% endif %}</figure>{% endif %}</td>
{% endfor %}</tr>
{% endfor %}</table>
{% else %}<p>No pictures: no run has a result with a PNG.</p>{% endfor %}
{% if s.originals %}<h3>Originals</h3><table class="grid"><tr>
{% for name, path in s.originals %}<td><figure><img class="picture original" src="{{ path | png }}" alt="{{ name }}"><figcaption>{{ name }}</figcaption></figure></td>{% endfor %}
</tr></table>{% endif %}

<h2>Metrics{% if s.title %}: {{ s.title }}{% endif %}</h2>
{% if s.metrics.rows %}{{ table(s.metrics) }}{% else %}<p>No metrics.json with results.</p>{% endif %}
{% if s.summary %}<h3>Means over each run's images</h3>{{ table(s.summary) }}{% endif %}
{% endfor %}

{% if r.best %}<h2>Optuna: best parameters</h2>
<table>{% for key, value in r.best.get("best_params", {}).items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
<tr><th>best value</th><td>{{ r.best.get("best_value") }}</td></tr></table>
{% if r.best.get("solutions") %}<pre>{{ r.best.solutions | tojson(indent=2) }}</pre>{% endif %}{% endif %}

<h2>Jobs</h2>
<table>
<tr>{% for h in r.jobs.headers %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in r.jobs.rows %}<tr>{% for value in row %}<td{% if row[2] != "completed" %} class="failed"{% endif %}>{{ value }}</td>{% endfor %}</tr>
{% endfor %}</table>

<h2>Loss curves</h2>
{% for chart in r.charts %}<img class="chart" src="{{ chart.svg | svg }}" alt="{{ chart.term }}">
{% else %}<p>No history.csv in these runs.</p>{% endfor %}

<h2>Provenance</h2>
{{ table(r.provenance) }}
{% for names, env in r.environments %}<h3>Environment of {{ names }}</h3>
<table>{% for key, value in env.versions.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
{% for key, value in env.device.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}</table>
{% endfor %}
<h3>Composed configs</h3>
{% for name, config in r.configs %}<details><summary>{{ name }}</summary><pre>{{ config }}</pre></details>
{% endfor %}
</body>
</html>
"""
)


def render_html(report: Report) -> str:
    """The report page; it needs nothing beside it (no network, no image files)."""
    env = Environment(autoescape=True, keep_trailing_newline=True)
    env.filters.update(png=png_uri, svg=lambda data: data_uri(data, "image/svg+xml"))
    return env.from_string(TEMPLATE).render(r=report)
