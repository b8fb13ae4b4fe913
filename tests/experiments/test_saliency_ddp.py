"""Saliency over two processes (Lightning's DDP on CPU, gloo): the same metrics.json as one process."""

import json

import pytest

from tests.reliability.conftest import run

SHAPES = [
    "objective=saliency",
    "experiment=own_network",
    "dataset=shapes",
    "dataset.size=10",  # batches of 4, 4 and 2: process 0 takes the first and the last, process 1 the middle one
    "dataset.split=all",
    "image_size=32",
    "objective.batch_size=4",
    "logger=none",
    "print_config=false",
    "trainer.accelerator=cpu",
]


def saliency(folder, *extra: str) -> dict:
    done = run(*SHAPES, *extra, f"hydra.run.dir={folder}")
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((folder / "metrics.json").read_text())


@pytest.mark.slow
def test_two_processes_give_the_summary_and_results_of_one(tmp_path):
    one = saliency(tmp_path / "one")
    two = saliency(tmp_path / "two", "trainer.devices=2", "trainer.strategy=ddp")
    assert len(one["results"]) == 10 and "pointing_game" in one["summary"]
    assert two == one  # every image once, in the dataset's order, with the same numbers
    names = [r["image"] for r in two["results"]]
    assert len(set(names)) == 10
    assert all((tmp_path / "two" / r["map"]).is_file() for r in two["results"])
    record = json.loads((tmp_path / "two" / "provenance.json").read_text())
    assert record["status"] == "completed" and not any("ddp_process" in part for part in record["command"])
