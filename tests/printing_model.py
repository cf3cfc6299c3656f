"""A model file that prints on import, on build and in its forward (as Ultralytics' banner and user code do)."""
import torch
from torch import nn

print("hello from import")


class Loud(nn.Module):
    """A conv that talks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Print, then convolve."""
        print("forward!", {"not": float("nan")})
        return self.conv(x)


def build() -> nn.Module:
    """The factory (prints too)."""
    print("building")
    return Loud()
