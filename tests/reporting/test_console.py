"""The lines a run ends with on the console."""

import logging

from convis.reporting.console import show_outputs


def test_the_done_line_counts_the_results_that_did_not_reach_their_objective(tmp_path, caplog):
    results = [{"target": "tabby", "reached": False}, {"target": "goldfish", "reached": True}]
    with caplog.at_level(logging.INFO, logger="convis"):
        show_outputs(tmp_path, {"results": results})
        show_outputs(tmp_path, {"results": results[1:]})
    done = [r.getMessage() for r in caplog.records if r.getMessage().startswith("done:")]
    assert done == [f"done: 2 result(s), 1 not reached in {tmp_path} ()", f"done: 1 result(s) in {tmp_path} ()"]
