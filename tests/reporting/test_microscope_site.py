"""The microscope's static site, checked in a real browser (Debian's headless chromium) read from file://."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from PIL import Image
from selenium.webdriver.support.ui import WebDriverWait

from convis.reporting.microscope import write_site

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAYERS = ["block_1_conv", "block_2_add"]
LABELS = {("block_1_conv", 0): ("red", "colour", 0.12), ("block_2_add", 2): ("striped", "texture", 0.08)}
WEAK = ("block_2_add", 1)  # its visualisation activates the unit less than its top example
NO_VISUALISATION = ("block_1_conv", 2)
COUNTS = [3, 0, 7, 12, 5]


def png(root: Path, relative: str, colour: tuple[int, int, int]) -> str:
    """A 16x16 solid-colour PNG at root/relative; the relative path, as the records hold it."""
    (root / relative).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), colour).save(root / relative)
    return relative


def example(root: Path, layer: str, channel: int, rank: int, activation: float) -> dict[str, Any]:
    path = png(root, f"exemplars/{layer}/{channel}/{rank}.png", (0, 40 * rank, 200))
    return {"image": f"shape{rank:05d}_disc", "activation": activation, "png": path, "position": [rank, 2]}


def unit(root: Path, layer: str, channel: int) -> dict[str, Any]:
    """A unit's record with real PNGs; the label, trust and visualisation as the constants above say."""
    key = (layer, channel)
    vis = (
        None if key == NO_VISUALISATION else png(root, f"visualisations/{layer}/{channel}.png", (200, 30 * channel, 0))
    )
    concept = LABELS.get(key)
    return {
        "layer": layer,
        "channel": channel,
        "visualisation": vis,
        "diverse": [png(root, f"visualisations/{layer}/{channel}_diverse_0.png", (9, 9, 9))] if vis else [],
        "exemplars": [example(root, layer, channel, rank, 3.2 - rank) for rank in range(2)],
        "least": [example(root, layer, channel, 9, 0.01)] if channel == 0 else [],
        "histogram": {"edges": [0.0, 0.5, 1.0, 1.5, 2.0, 2.5], "counts": COUNTS},
        "label": dict(zip(["concept", "category", "iou"], concept)) if concept else None,
        "trust": {
            "visualisation_activation": 2.0 if key == WEAK else 4.1,
            "top_example_activation": 3.2,
            "ratio": 0.62 if key == WEAK else 1.28,
            "weaker_than_examples": key == WEAK,
            "robustness": 0.83,
        },
    }


def layer(root: Path, name: str) -> dict[str, Any]:
    inversion = {
        "image": "shape00001_disc",
        "original": png(root, f"inversions/{name}/original_0.png", (90, 90, 90)),
        "png": png(root, f"inversions/{name}/0.png", (120, 120, 120)),
        "normalized_error": 0.31,
    }
    return {"layer": name, "channels": 3, "inversions": [inversion], "label_counts": {"colour": 1, "texture": 1}}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A microscope of 2 layers x 3 units, its site written; the index page."""
    root = tmp_path_factory.mktemp("microscope")
    units = [unit(root, name, channel) for name in LAYERS for channel in range(3)]
    return write_site(root, units, [layer(root, name) for name in LAYERS], "Test microscope", ["One intro line."])


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the file; a missing chromium is a failure that says what to install."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(
            "no chromium: install Debian's `chromium` and `chromium-driver` (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def pages(root: Path) -> list[Path]:
    return [root / "index.html", *sorted((root / "layers").glob("*.html")), *sorted((root / "units").rglob("*.html"))]


def load(driver: Any, page: Path) -> None:
    """Open `page` and wait until it and its images have loaded (get() alone can return before the DOM is built)."""
    driver.get(page.as_uri())
    WebDriverWait(driver, 10).until(
        lambda d: (
            unquote(urlparse(d.current_url).path) == str(page)
            and d.execute_script("return document.readyState") == "complete"
        )
    )


def broken_images(driver: Any) -> list[str]:
    return driver.execute_script(
        "return [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);"
    )


def links(driver: Any) -> list[str]:
    return driver.execute_script("return [...document.querySelectorAll('a[href]')].map(a => a.href);")


def search(driver: Any, concept: str = "", channel: str = "") -> list[str]:
    """Type into the page's filter box (its inputs cleared first); the texts of the units it lists."""
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, ".filter")
    for selector, text in [("input.concept", concept), ("input.channel", channel)]:
        field = box.find_element(By.CSS_SELECTOR, selector)
        field.clear()
        field.send_keys(text)
    return [item.text for item in box.find_elements(By.CSS_SELECTOR, ".matches li")]


def test_every_page_loads_its_images_and_links_to_existing_files(site: Path, browser: Any) -> None:
    found = pages(site.parent)
    assert len(found) == 1 + 2 + 6
    for page in found:
        load(browser, page)
        assert broken_images(browser) == [], page
        targets = [Path(unquote(urlparse(href).path)) for href in links(browser)]
        assert targets, page
        assert [t for t in targets if not t.is_file()] == [], page


def test_index_filter_lists_units_by_concept_and_channel(site: Path, browser: Any) -> None:
    load(browser, site)
    assert search(browser, concept="red") == ["block_1_conv:0 red (colour, IoU 0.12)"]
    assert search(browser, concept="TEXT") == ["block_2_add:2 striped (texture, IoU 0.08)"]
    assert search(browser, channel="block_2_add:1") == ["block_2_add:1"]
    assert sorted(search(browser, channel="1")) == ["block_1_conv:1", "block_2_add:1"]
    assert search(browser, concept="blue") == []
    assert broken_images(browser) == []
    search(browser, concept="red")
    href = browser.execute_script("return document.querySelector('.matches a').href;")
    assert Path(unquote(urlparse(href).path)) == site.parent / "units/block_1_conv/0.html"


def test_layer_filter_keeps_to_its_layer(site: Path, browser: Any) -> None:
    load(browser, site.parent / "layers/block_2_add.html")
    assert search(browser, channel="1") == ["block_2_add:1"]
    assert search(browser, concept="red") == []
    assert len(browser.execute_script("return document.querySelectorAll('.grid .cell');")) == 3
    assert len(browser.execute_script("return document.querySelectorAll('.cell .weak');")) == 1


def test_weaker_unit_warns_and_histogram_has_a_bar_per_count(site: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    load(browser, site.parent / "units/block_2_add/1.html")
    assert "activates the unit less than real images do" in browser.find_element(By.CSS_SELECTOR, ".warning").text
    bars = browser.execute_script("return document.querySelectorAll('svg.histogram rect.bar').length;")
    assert bars == len(COUNTS)
    load(browser, site.parent / "units/block_1_conv/0.html")
    assert browser.find_elements(By.CSS_SELECTOR, ".warning") == []
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "1.28x as much as its strongest dataset example" in text
    assert "keeps 83% of its activation under random crops and flips" in text
    assert "Least activating examples" in text


def test_missing_pieces_render_gracefully(site: Path) -> None:
    page = (site.parent / "units/block_1_conv/2.html").read_text()
    assert "no visualisation made" in page and "no label: no concept passes the IoU threshold" in page


def test_names_are_escaped(tmp_path: Path) -> None:
    record = {"layer": "<b>x", "channel": 0, "visualisation": None, "exemplars": [], "label": None, "trust": None}
    record["label"] = {"concept": "<i>red</i>", "category": "colour", "iou": 0.2}
    index = write_site(tmp_path, [record], [{"layer": "<b>x", "channels": 1}], "<script>t</script>", ["a & b"])
    pages = [
        index.read_text(),
        (tmp_path / "layers/_b_x.html").read_text(),
        (tmp_path / "units/_b_x/0.html").read_text(),
    ]
    for text in pages:
        assert "<b>x" not in text and "&lt;b&gt;x" in text
        assert "<script>t</script>" not in text
    assert "&lt;i&gt;red&lt;/i&gt;" in pages[2] and "a &amp; b" in pages[0]


def test_a_microscope_run_of_two_mobilenet_layers_opens_with_no_broken_image(cfg_factory, tmp_path, browser) -> None:
    """experiment=microscope as shipped (MobileNetV2 on shapes, two layers), shrunk: its site in the browser."""
    from convis import experiments

    small = ["dataset.size=16", "image_size=32", "steps=2", "objective.k=2", "objective.sample=8"]
    quick = ["objective.robustness_copies=2", "objective.inversions=1", "objective.inversion_steps=2"]
    concepts = "objective.concepts={_target_:convis.data.concepts.concepts,size:8}"
    experiments.run(cfg_factory("experiment=microscope", "backbone.weights=null", *small, *quick, concepts))
    found = pages(tmp_path / "microscope")
    assert len(found) == 1 + 2 + 24 + 32  # the index, block_2_add and block_5_add, a page per unit
    for page in found[:3] + found[3::7]:
        load(browser, page)
        assert browser.find_elements("css selector", "img"), page
        assert broken_images(browser) == [], page
