"""Run infrastructure: errors, atomic writers, provenance, stops and checkpoints, history and logs."""
