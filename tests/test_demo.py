"""scripts/demo.py's lines: each epoch of a fine-tuning with the time left, and a line at least every few seconds."""

import runpy
import threading
import time
from pathlib import Path

from convis.runtime.history import write_history

DEMO = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "demo.py"))
ROW = {"step": "75", "epoch": "1", "train_acc": "0.41", "train_loss": "1.0987", "val_acc": "0.5", "val_loss": "1.1"}


def test_epoch_line_counts_from_one_and_estimates_the_rest_at_the_mean_pace():
    line = DEMO["epoch_line"](ROW, 15, 90.0)
    assert line == (
        "epoch 2/15: val_acc 0.500, train_acc 0.410, train_loss 1.099 (1 min 30 s so far, about 9 min 45 s left)"
    )


def test_step_line_and_clock():
    assert DEMO["step_line"]("class models", 256)({"step": "120", "loss": "-12.345"}, 0, 31.2) == (
        "class models: step 120/256, loss -12.35 (31 s)"
    )
    assert [DEMO["clock"](s) for s in (0.4, 59.6, 125)] == ["0 s", "1 min 00 s", "2 min 05 s"]


def test_a_row_half_appended_waits_for_the_next_look():
    assert DEMO["complete"]([ROW, {**ROW, "val_loss": None}]) == [ROW]


def test_watched_says_each_epoch_as_history_csv_gains_it(tmp_path, capsys):
    def train() -> None:
        for epoch in range(2):
            time.sleep(1.2)
            write_history([{**ROW, "epoch": str(e)} for e in range(epoch + 1)], tmp_path / "history.csv")
        time.sleep(1.2)

    with DEMO["watched"](tmp_path, "fine-tuning", DEMO["epoch_line"], epochs=2, every=60):
        worker = threading.Thread(target=train)
        worker.start()
        worker.join()
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1] for line in lines[:2]] == [" epoch 1/2", " epoch 2/2"], lines
    assert "about 0 s left" in lines[1] and lines[2].startswith("demo: fine-tuning: done in "), lines


def test_watched_says_a_stage_without_news_is_still_running(tmp_path, capsys):
    with DEMO["watched"](tmp_path, "saliency", every=1):
        time.sleep(2.5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "demo: saliency: still running, 1 s so far", lines
    assert lines[-1] == "demo: saliency: done in 3 s", lines
