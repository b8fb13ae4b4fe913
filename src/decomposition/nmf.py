"""Non-negative factors of a layer's activations: the check that NMF applies, and the projection onto a fixed bank.

The factorisation itself is convis.experiments.nmf.factorise (scikit-learn's NMF): A [n, C] ~ U [n, K] @ W [K, C].
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import nnls

from convis.runtime.errors import ConvisError


def non_negative(activation: torch.Tensor, layer: str, objective: str) -> torch.Tensor:
    """`activation` if it has no negative value: NMF factorises non-negative matrices only."""
    low = float(activation.min())
    if low < 0:
        raise ConvisError(
            f"objective={objective} needs non-negative activations and {layer} has values down to {low:.3g}: "
            "choose a layer after a ReLU (python scripts/layers.py lists them)"
        )
    return activation


def project(vectors: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """The coefficients U [n, K] >= 0 that best rebuild each row of `vectors` [n, C] as U @ bank ([K, C]): an exact
    non-negative least-squares solution per row (scipy's NNLS), the NMF transform with the bank held fixed."""
    basis = bank.detach().double().cpu().numpy().T  # [C, K]
    rows = vectors.detach().double().cpu().numpy()
    return torch.from_numpy(np.stack([nnls(basis, row)[0] for row in rows])).float()
