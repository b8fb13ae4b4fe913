"""A sweep report with damaged jobs: each damaged job is one line naming its file and what is wrong with it, the
other jobs are reported as usual, and a symlink loop in a run's folder does not hang the report."""

import json
import signal
from pathlib import Path

import pytest

from convis.reporting.report import build, write
from convis.reporting.runs import collect
from tests.reporting.test_report import inversion, make_run

DAMAGE = {  # file, what it holds, the job's error in the report
    "truncated metrics": ("metrics.json", b'{"results": [{"lay', "metrics.json: not valid JSON (Unterminated string"),
    "binary metrics": ("metrics.json", b"\x89PNG\r\n\x1a\n\x00\xff", "metrics.json: not UTF-8 text"),
    "list metrics": ("metrics.json", b"[1, 2]", "metrics.json: holds a list, not an object with results"),
    "bad provenance": ("provenance.json", b'{"status": ', "provenance.json: not valid JSON (Expecting value"),
    "provenance status": ("provenance.json", b'{"status": 3}', "provenance.json: status is 3, not one of"),
    "history value": ("history.csv", b"step,loss\n1,0.5\n2,abc\n", "history.csv: row 2 (step 2): loss is 'abc'"),
}


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """Two good jobs around a third whose files the test damages."""
    for n, layer in enumerate(["conv1", "conv2", "conv3"]):
        make_run(tmp_path / str(n), [f"layer={layer}"], [inversion(layer, 0.1 * (n + 1))], seed=n)
    return tmp_path


@pytest.mark.parametrize("case", DAMAGE)
def test_a_damaged_job_is_one_line_naming_its_file_and_the_others_are_reported(sweep, case):
    name, content, expected = DAMAGE[case]
    (sweep / "1" / name).write_bytes(content)
    html = write(sweep)[0].read_text()
    rows = {row[0]: row[2:] for row in build(sweep).jobs.rows}
    assert rows["0"] == ["completed", ""] and rows["2"] == ["completed", ""]
    status, error = rows["1"]
    assert status == "damaged" and error.startswith(expected) and "\n" not in error, error
    assert "<td>0.1</td>" in html and "<td>0.3</td>" in html  # the good jobs' results
    assert html.count('<img class="picture"') == 2 + (name != "metrics.json")


def test_a_symlink_loop_in_a_run_folder_does_not_hang_the_report(sweep):
    loop = sweep / "2" / "loop"
    loop.mkdir()
    (loop / "self").symlink_to("../loop")
    (sweep / "link").symlink_to(sweep)  # a link to the sweep itself beside its jobs

    def hung(signum: int, frame: object) -> None:
        raise TimeoutError("the report walks the symlink loop")

    signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    try:
        runs = collect(sweep)
    finally:
        signal.alarm(0)
    assert [run.name for run in runs] == ["0", "1", "2"]


def test_a_job_whose_record_could_not_be_written_shows_the_error_its_lock_file_kept(sweep):
    """A full disk can leave provenance.json saying running: the lock file holds the error."""
    from convis.runtime.lock import acquire, note, release

    record = json.loads((sweep / "1" / "provenance.json").read_text())
    (sweep / "1" / "provenance.json").write_text(json.dumps({**record, "status": "running", "finished": None}))
    acquire(sweep / "1")
    assert note(sweep / "1", "failed", "no space left on the device writing x; free some space and run again")
    release(sweep / "1")
    rows = {row[0]: row[2:] for row in build(sweep).jobs.rows}
    assert rows["1"] == ["failed", "no space left on the device writing x; free some space and run again"]
