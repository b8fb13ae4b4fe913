"""objective=microscope killed by SIGKILL once its first part is written, then `resume=DIR`: the finished part is
kept as it is (not computed again) and the rest is done, to a whole site."""

import json
import signal
import time

import pytest

from tests.reliability.conftest import run, start

FIRST = "microscope/visualisations/relu1/0-3/metrics.json"  # relu1's units 0-3: the first part


def command(out) -> list[str]:
    return [
        "experiment=own_network",
        "objective=microscope",
        "layer=[relu1,relu2]",
        "dataset=shapes",
        "dataset.size=16",
        "image_size=32",
        "steps=150",
        "objective.batch_size=4",
        "objective.inversions=1",
        "objective.inversion_steps=5",
        "objective.concepts={_target_:convis.data.concepts.concepts,size:8}",
        "logger=none",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={out}",
    ]


@pytest.mark.slow  # two runs of the command line
def test_a_killed_microscope_resumes_without_redoing_its_finished_parts(tmp_path):
    out = tmp_path / "run"
    job, end = start(*command(out)), time.monotonic() + 240
    while not (out / FIRST).is_file():
        assert job.poll() is None, f"the run ended before it could be killed: {job.communicate()[1][-2000:]}"
        assert time.monotonic() < end, "the first part was not written in 240 s"
        time.sleep(0.005)
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=60)
    assert not (out / "microscope" / "units.json").is_file()  # killed before the end
    written = (out / FIRST).stat().st_mtime_ns
    resumed = run(f"resume={out}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "relu1/0-3 was written before the resume: kept" in resumed.stdout + resumed.stderr
    assert (out / FIRST).stat().st_mtime_ns == written
    units = json.loads((out / "microscope" / "units.json").read_text())
    assert [(u["layer"], u["channel"]) for u in units] == [(layer, c) for layer in ("relu1", "relu2") for c in range(8)]
    assert all((out / "microscope" / u["visualisation"]).is_file() for u in units)
