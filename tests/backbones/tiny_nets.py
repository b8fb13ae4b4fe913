"""Small user-defined networks for the custom-backbone tests (importable as tests.backbones.tiny_nets)."""

import torch
from torch import nn


class TinyNet(nn.Module):
    """A chain: conv, ReLU, conv, ReLU, pool, flatten, linear."""

    def __init__(self, channels: int = 3, classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, stride=2)
        self.relu2 = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu2(self.conv2(self.relu1(self.conv1(x)))))
        return self.fc(torch.flatten(x, 1))


class SkipNet(TinyNet):
    """Not a chain: a residual connection around conv2, and a dict output."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.relu1(self.conv1(x))
        h = h[..., ::2, ::2] + self.relu2(self.conv2(h))
        return {"logits": self.fc(torch.flatten(self.pool(h), 1)), "features": h}


class ReusedNet(TinyNet):
    """conv2 applied twice in one forward pass (stride 1 copy kept for shape)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu2(self.conv2(self.relu2(self.conv2(self.relu1(self.conv1(x))))))
        return self.fc(torch.flatten(self.pool(h), 1))
