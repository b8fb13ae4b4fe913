"""Whole batches to each DDP process in turn: the batches one process would make, each once."""

import pytest

from convis.runtime import distributed
from convis.runtime.distributed import BatchShare, gathered


@pytest.mark.parametrize(("length", "size", "processes"), [(10, 4, 2), (10, 4, 3), (3, 4, 2), (12, 3, 4)])
def test_the_shares_are_one_process_batches_dealt_out(monkeypatch, length, size, processes):
    one = [list(range(i, min(i + size, length))) for i in range(0, length, size)]
    shares = []
    for rank in range(processes):
        monkeypatch.setattr(distributed, "world", lambda rank=rank: (rank, processes))
        share = list(BatchShare(length, size))
        assert len(BatchShare(length, size)) == len(share)
        shares.append([share[i : i + size] for i in range(0, len(share), size)])  # as a DataLoader batches it
    assert all(shares[rank] == one[rank::processes] for rank in range(processes))


def test_one_process_keeps_everything():
    assert list(BatchShare(5, 2)) == [0, 1, 2, 3, 4] and gathered([1, 2]) == [1, 2]
