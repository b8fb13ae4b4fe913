"""MkDocs hook: the home page's gallery, the PNGs that scripts/gallery.py wrote to docs/gallery/ (those present)."""

from __future__ import annotations

from pathlib import Path

MARKER = "<!-- gallery -->"
PICTURES = {
    "inversion": "A held-out square inverted from six layers of the fine-tuned MobileNetV2",
    "atlas": "The first eight channels of block_13_expand_relu, each maximised",
    "class_models": "A class model of each class",
    "saliency": "Gradient and Grad-CAM saliency of held-out shapes",
    "microscope": "Four units of block_5_add under the microscope: each visualised, then its strongest shapes",
}


def on_page_markdown(markdown: str, page, config, files) -> str:  # MkDocs calls it with these four
    if MARKER not in markdown:
        return markdown
    folder = Path(config["docs_dir"]) / "gallery"
    shown = [f"![{alt}](gallery/{name}.png)" for name, alt in PICTURES.items() if (folder / f"{name}.png").is_file()]
    missing = "No pictures yet: `make demo`, then `python scripts/gallery.py`, writes them to `docs/gallery/`."
    return markdown.replace(MARKER, "\n".join(shown) or missing)  # one paragraph: the narrow ones side by side
