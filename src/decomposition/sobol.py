"""Total Sobol indices of a function of masks: Saltelli's design and Jansen's estimator (as CRAFT uses them).

The inputs are `dimensions` independent masks, each uniform on [0, 1]; the design draws `designs` points of
two matrices A and B from one scrambled Sobol sequence (scipy's, seeded) and, per input i, A_B^i: A with its
column i taken from B. Jansen's total index of input i is

    ST_i = mean_j (f(A)_j - f(A_B^i)_j)^2 / (2 Var f),

Var f the variance of f over the points of A and B. The true index lies in [0, 1]; this estimate converges to
it as `designs` grows but is not bounded by 1 at a finite design: it is at most (S_A + S_i) / Var f, S_A and S_i
the mean squared deviations of f(A) and f(A_B^i) from f's mean over A and B, so it exceeds 1 only where f spreads
more on the A_B^i points than on A and B, which sampling error allows at a small design.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.stats import qmc


def saltelli_design(dimensions: int, designs: int, seed: int) -> torch.Tensor:
    """The masks [designs * (dimensions + 2), dimensions] in [0, 1]: A, then B, then A_B^1 ... A_B^dimensions.

    `designs` is best a power of two (a Sobol sequence's balance properties hold at those)."""
    points = qmc.Sobol(2 * dimensions, scramble=True, rng=seed).random(designs)
    a, b = points[:, :dimensions], points[:, dimensions:]
    mixed = np.repeat(a[None], dimensions, axis=0)  # [dimensions, designs, dimensions]
    for i in range(dimensions):
        mixed[i, :, i] = b[:, i]
    return torch.from_numpy(np.concatenate([a, b, mixed.reshape(-1, dimensions)])).float()


def jansen_total(outputs: torch.Tensor, dimensions: int, designs: int) -> torch.Tensor:
    """Each input's total index [dimensions] from f's values [designs * (dimensions + 2)] on saltelli_design's
    masks, in its order; all 0 where f does not vary (no input changes anything)."""
    values = outputs.double().reshape(dimensions + 2, designs)
    f_a, f_b, f_mixed = values[0], values[1], values[2:]
    variance = torch.cat([f_a, f_b]).var(correction=0)
    if variance == 0:
        return torch.zeros(dimensions, dtype=torch.float64)
    return ((f_a - f_mixed) ** 2).mean(dim=1) / (2 * variance)


def total_indices(f: Callable[[torch.Tensor], torch.Tensor], dimensions: int, designs: int, seed: int) -> torch.Tensor:
    """Jansen's total Sobol index [dimensions] of each mask of `f`, a function from masks [n, dimensions] in
    [0, 1] to values [n], on Saltelli's design of `designs` points (seeded)."""
    masks = saltelli_design(dimensions, designs, seed)
    return jansen_total(f(masks).detach().cpu(), dimensions, designs)
