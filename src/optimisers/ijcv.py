"""Mahendran & Vedaldi's update (IJCV 2016; their nnpreimage code, the default useAdagrad branch).

With u an image in 0-255 mean-subtracted pixel units and g = dE/du, every step is

    G <- leak G + g^2                               a leaky *sum* of squares (not RMSprop's mean)
    v <- momentum v - g / (1 / (H W eta) + sqrt(G))
    u <- u + v                                      (the pixel norm bound is the prior's constraint)

H W is the number of pixels of the image the network sees, eta the learning rate (0.05 B^2 / alpha =
53.3 for B = 80, alpha = 6). H W eta is so large that the step is in effect g / sqrt(G): it does not
depend on the scale of the gradient and moves each pixel by about one 0-255 unit per step.

convis optimises z = u / s in the network's normalised input space, s = 255 std_c per channel, so
dE/du = (dE/dz) / s and a step of v in u is a step of v / s in z. G and v are kept in u units: the
same numbers as the authors' code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch.optim import Optimizer


class IJCV(Optimizer):
    """The authors' momentum with a leaky AdaGrad step, on parameters in units of `scale` 0-255 units.

    `lr`: eta, in 0-255 units (the denominator adds 1 / (pixels * lr)); `pixels`: H W, the pixels of one
    image the network sees (None: the last two dimensions of each parameter); `scale`: 0-255 units per
    unit of the parameter, one number or one per channel (dimension 1), e.g. 255 * std for torchvision's
    normalised input space (1: the parameter is in 0-255 units itself).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 0.05 * 80**2 / 6,
        momentum: float = 0.9,
        leak: float = 0.9,
        pixels: int | None = None,
        scale: float | Sequence[float] = 1.0,
    ) -> None:
        if not lr > 0:
            raise ValueError(f"learning rate must be positive, got {lr}")
        if not 0 <= momentum < 1 or not 0 <= leak <= 1:
            raise ValueError(f"momentum must be in [0, 1) and leak in [0, 1], got {momentum} and {leak}")
        if pixels is not None and pixels <= 0:
            raise ValueError(f"pixels must be positive, got {pixels}")
        scales = [float(scale)] if isinstance(scale, (int, float)) else [float(s) for s in scale]
        if not scales or min(scales) <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        defaults = {"lr": lr, "momentum": momentum, "leak": leak, "pixels": pixels, "scale": scales}
        super().__init__(params, defaults)

    @staticmethod
    def _scale(group: dict, p: torch.Tensor) -> torch.Tensor | float:
        """0-255 units per unit of `p`: a number, or a tensor that broadcasts along dimension 1."""
        scales = group["scale"]
        if len(scales) == 1:
            return scales[0]
        shape = [1] * p.dim()
        shape[1] = len(scales)
        return torch.tensor(scales, dtype=p.dtype, device=p.device).view(shape)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["G"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["v"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                scale = self._scale(group, p)
                pixels = group["pixels"] or p.shape[-2] * p.shape[-1]
                g = p.grad / scale  # dE/du
                G, v = state["G"], state["v"]
                G.mul_(group["leak"]).add_(g.square())
                v.mul_(group["momentum"]).sub_(g / (1.0 / (pixels * group["lr"]) + G.sqrt()))
                p.add_(v / scale)
        return loss
