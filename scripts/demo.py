"""The demo (`make demo`): the three parts of convis on a trained network, offline, in one report.

1. a MobileNetV2 fine-tuned here on synthetic shapes (kept in outputs/demo_network: a second demo
   starts at once), 2. the inversion table of that network, 3. a class model of each of its classes,
4. gradient saliency on held-out shapes with its GrabCut localisation and quality metrics; then
outputs/demo/report.html. Where torchvision's ImageNet VGG16 weights are in torch's cache, the
inversion table is the original project's instead: VGG16, the cat, block3_conv1 to block5_conv3.
All of it goes through the Python API, as a notebook would.

Progress bars are off (they garble a log), so the demo says what it does instead: a line per stage,
a line per epoch of the fine-tuning with the time left, and, while a later stage runs, a line at
least every 15 s read from the run's history.csv (each step's losses, written as the run goes).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import torch
from torchvision.models import VGG16_Weights

import convis
from convis.reporting.report import write
from convis.runtime.history import HISTORY, read_history

OUT, NETWORK = Path("outputs/demo"), Path("outputs/demo_network")
CLASSES = ["disc", "square", "triangle"]
LAYERS = ["Conv1_relu", "block_2_add", "block_5_add", "block_9_add", "block_13_expand_relu", "out_relu"]
QUIET = {"trainer": {"enable_progress_bar": False}}
SIZE = 64  # pixels: the shapes' size, which every stage keeps (a class model would default to the backbone's 224)
EPOCHS, SHAPES = 15, 3000  # from random init at a constant rate (2000 shapes: val_acc 0.40 after 6 epochs)
STEPS = 256  # each class model's steps: half Lucid's 512, enough for each to be its class (checked below)
EVERY = 15.0  # seconds: the longest a stage runs without a line
MIN_ACC = 0.7  # the fine-tuned network must name at least this share of held-out shapes (chance: 1/3)

Row = dict[str, str]
Line = Callable[[Row, int, float], str]  # a history.csv row, the epochs in all, the seconds so far: a line


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def clock(seconds: float) -> str:
    """A duration as 75 s or 2 min 05 s."""
    whole = round(seconds)
    return f"{whole} s" if whole < 60 else f"{whole // 60} min {whole % 60:02d} s"


def epoch_line(row: Row, epochs: int, elapsed: float) -> str:
    """An epoch's line of history.csv: its number, accuracies and the time left at the mean epoch's pace."""
    done = int(row["epoch"]) + 1
    left = elapsed / done * (epochs - done)
    return (
        f"epoch {done}/{epochs}: val_acc {float(row['val_acc']):.3f}, train_acc {float(row['train_acc']):.3f}, "
        f"train_loss {float(row['train_loss']):.3f} ({clock(elapsed)} so far, about {clock(left)} left)"
    )


def step_line(stage: str, total: int) -> Line:
    """The line of a visualisation's history.csv row: its step of `total` and its loss."""

    def line(row: Row, epochs: int, elapsed: float) -> str:
        return f"{stage}: step {row['step']}/{total}, loss {float(row['loss']):.4g} ({clock(elapsed)})"

    return line


def complete(rows: list[Row]) -> list[Row]:
    """The rows with every value written (a row being appended as it is read is left for the next look)."""
    return [row for row in rows if all(value not in (None, "") for value in row.values())]


@contextmanager
def watched(run: Path, stage: str, line: Line | None = None, epochs: int = 0, every: float = EVERY) -> Iterator[None]:
    """While the body runs, print `line` of what run/history.csv gains: each new row where `epochs` are
    counted, else the latest row at most every `every` s; and a line whenever `every` s pass without one."""
    stop, start = threading.Event(), time.perf_counter()

    def follow() -> None:
        seen, said = 0, start
        while not stop.wait(1.0):
            path, now = run / HISTORY, time.perf_counter()
            rows = complete(read_history(path)) if line and path.is_file() else []
            if len(rows) > seen and (epochs or now - said >= every):
                seen, said = len(rows), now
                say(line(rows[-1], epochs, now - start))
            elif now - said >= every:
                said = now
                say(f"{stage}: still running, {clock(now - start)} so far")

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    say(f"{stage}: done in {clock(time.perf_counter() - start)}")


def trained_network() -> Path:
    """The fine-tuned MobileNetV2's checkpoint: trained now, or the one a previous demo left."""
    best = NETWORK / "checkpoints" / "best.ckpt"
    if (NETWORK / "metrics.json").is_file():  # written when the fine-tuning ends, not by an interrupted one
        say(f"reusing the MobileNetV2 fine-tuned on shapes in {NETWORK} (delete it to train again)")
        return best
    say(
        f"1/4 fine-tuning MobileNetV2 from random init on {SHAPES} synthetic shapes ({', '.join(CLASSES)}), {SIZE} px, "
        f"{EPOCHS} epochs (the time left follows each epoch)"
    )
    shapes = {
        "objective.epochs": EPOCHS,
        "objective.scheduler": None,  # a constant rate
        "dataset.size": SHAPES,
        "image_size": SIZE,
    }
    with watched(NETWORK, "fine-tuning", epoch_line, EPOCHS):
        run = convis.finetune("mobilenet_v2", "shapes", weights=None, output_dir=NETWORK, **shapes, **QUIET)
    result = run.metrics["results"][0]
    chance = result["chance_acc"]
    say(f"best val_acc {result['val_acc']:.3f} on held-out shapes (always the commonest class: {chance:.3f})")
    if result["val_acc"] < MIN_ACC:
        shutil.rmtree(NETWORK)  # not kept for the next demo
        raise SystemExit(f"demo: val_acc below {MIN_ACC}: the network did not learn the shapes, so it is not kept")
    return best


def imagenet_vgg16_cached() -> bool:
    """Whether torchvision's ImageNet VGG16 weights are in torch's cache (no download is tried)."""
    return (Path(torch.hub.get_dir()) / "checkpoints" / Path(VGG16_Weights.IMAGENET1K_V1.url).name).is_file()


def inversion_table(checkpoint: Path) -> None:
    """The original project's VGG16 table where its weights are cached, else the fine-tuned network's."""
    folder = OUT / "1_inversion"
    if imagenet_vgg16_cached():
        say("2/4 ImageNet VGG16 weights are cached: the original project's table (the cat, 224 px, 350 steps)")
        with watched(folder, "inversion", step_line("inversion", 350)):
            run = convis.run(["experiment=seed_table", "trainer.enable_progress_bar=false"], output_dir=folder)
    else:
        say(f"2/4 inverting the fine-tuned MobileNetV2 at {len(LAYERS)} layers, one disc, square and triangle each")
        three = {"dataset": "shapes", "dataset.size": 3}
        with watched(folder, "inversion", step_line("inversion", 350)):
            run = convis.invert(
                "mobilenet_v2", layer=LAYERS, weights=str(checkpoint), output_dir=folder, **three, **QUIET
            )
    say("  per layer, the mean feature error (normalized_error) and the picture's PSNR against the original:")
    for layer in dict.fromkeys(result["layer"] for result in run.metrics["results"]):
        results = [result for result in run.metrics["results"] if result["layer"] == layer]
        error, psnr = (sum(result[key] for result in results) / len(results) for key in ("normalized_error", "psnr"))
        say(f"  {layer}: normalized_error {error:.3f}, PSNR {psnr:.1f} dB")


def class_models(checkpoint: Path) -> None:
    """A class model of each class, each checked to be the network's top class."""
    say(f"3/4 a class model of each class ({STEPS} steps)")
    folder = OUT / "2_class_models"
    with watched(folder, "class models", step_line("class models", STEPS)):
        run = convis.class_model(
            "mobilenet_v2", CLASSES, weights=str(checkpoint), output_dir=folder, steps=STEPS, image_size=SIZE, **QUIET
        )
    for result in run.metrics["results"]:
        say(f"  {result['target']}: p = {result['target_prob']:.3f}, the network's top class: {result['top_class']}")
    missed = [r["target"] for r in run.metrics["results"] if r["top_class"] != r["target"]]
    if missed:
        raise SystemExit(f"demo: the class models of {', '.join(missed)} are not the network's top class")


def saliency(checkpoint: Path) -> None:
    """Gradient saliency on shapes none of the training set's, with its boxes and quality."""
    say("4/4 gradient saliency on 60 held-out shapes, with GrabCut boxes, pointing game, deletion and insertion")
    folder = OUT / "3_saliency"
    held_out = {"dataset": "shapes", "dataset.seed": 1000, "dataset.size": 60}  # drawn apart from the training set
    with watched(folder, "saliency"):  # a prediction: no history.csv
        run = convis.saliency("mobilenet_v2", weights=str(checkpoint), output_dir=folder, **held_out, **QUIET)
    summary = run.metrics.get("summary", {})
    say("  " + ", ".join(f"{key} {value:.3f}" for key, value in summary.items() if isinstance(value, float)))


def trained_line() -> str:
    """What the report is of: the network, what it was trained on, and how well (from its fine-tuning's metrics)."""
    result = json.loads((NETWORK / "metrics.json").read_text())["results"][0]
    return (
        f"A MobileNetV2 trained here from random init on {SHAPES} synthetic shapes ({', '.join(CLASSES)}), {SIZE} px, "
        f"{result['epochs']} epochs: val_acc {result['val_acc']:.3f} on held-out shapes (always the commonest class: "
        f"{result['chance_acc']:.3f}). Below: its inversions, a class model of each class and gradient saliency."
    )


def idle_threads() -> int:
    """torch's threads, one per core idle over the last second (not the load average, which still counts
    the set-up that has just finished): on a busy machine, threads waiting on each other's cores cost 10x."""
    cores = os.cpu_count() or 1
    busy = psutil.cpu_percent(interval=1.0) / 100 * cores
    return max(1, min(torch.get_num_threads(), round(cores - busy)))


def main() -> None:
    start = time.perf_counter()
    torch.set_num_threads(idle_threads())
    say(f"{torch.get_num_threads()} torch thread(s) on {os.cpu_count()} cores (one per core idle now)")
    shutil.rmtree(OUT, ignore_errors=True)
    checkpoint = trained_network()
    inversion_table(checkpoint)
    class_models(checkpoint)
    saliency(checkpoint)
    html, _ = write(OUT, columns=3, intro=[trained_line()])
    say(f"done in {clock(time.perf_counter() - start)}: open {html} in a browser")


if __name__ == "__main__":
    main()
