"""Whole batches to each DDP process in turn: the batches one process would make, each once."""

import pytest

from convis.data import classification
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


def test_under_ddp_each_validation_image_is_seen_once(monkeypatch):
    data = classification.ClassificationData(list(range(5)), list(range(7)), batch_size=2)
    seen = []
    for rank in range(3):
        monkeypatch.setattr(classification, "world", lambda rank=rank: (rank, 3))
        seen += [int(i) for batch in data.val_dataloader() for i in batch]
    assert sorted(seen) == list(range(7))  # Lightning's DistributedSampler would make it 9, two repeated
