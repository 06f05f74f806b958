"""Views that perturb the label-irrelevant background (augmentation alignment, Van Assel et al. 2025).

The training tensor is *packed*: channel 0 holds the foreground f (the alpha), channel 1 the
background crop b. A view composites them (:func:`sslab.data.textured.composite`, contrast γ)
after replacing, with probability α per image, the background by

* ``swap``:   the background of another image of the batch (a random derangement), or
* ``recrop``: a random circular shift of the same crop (another window of the same texture),

and standardises with the train split's pixel mean and std. α = 0 leaves the background intact
and draws no random numbers (the view is then exactly the clean composite); α = 1 makes the
background of a view independent of the image's own (swap) or of its position (recrop). Both
keep the marginal distribution of backgrounds, so α changes the alignment of the views with the
irrelevant feature, not its strength. Single-process: the derangement is drawn per local batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from sslab.data.textured import composite
from sslab.errors import ConfigError


def pack(foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) foreground and background → packed (N, 2, H, W)."""
    if foreground.shape != background.shape or foreground.shape[1] != 1:
        raise ConfigError(f"pack needs two (N, 1, H, W) tensors of one shape, got {tuple(foreground.shape)} "
                          f"and {tuple(background.shape)}")
    return torch.cat([foreground, background], dim=1)


def derangement(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random permutation π of 0..n−1 with π(i) ≠ i (n ≥ 2): i → the next element of a random cycle."""
    perm = torch.randperm(n, generator=generator)
    out = torch.empty(n, dtype=torch.long)
    out[perm] = perm.roll(-1)
    return out


@dataclass(frozen=True)
class BackgroundViews:
    gamma: float
    strength: float = 0.0  # α
    mode: Literal["swap", "recrop"] = "swap"
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ConfigError(f"background perturbation strength must be in [0, 1], got {self.strength}")
        if self.mode not in ("swap", "recrop"):
            raise ConfigError(f"background mode must be 'swap' or 'recrop', got {self.mode!r}")
        if self.gamma < 0 or self.std <= 0:
            raise ConfigError(f"need gamma >= 0 and std > 0, got {self.gamma}, {self.std}")

    def _finish(self, fg: torch.Tensor, bg: torch.Tensor) -> torch.Tensor:
        return (composite(fg, bg, self.gamma) - self.mean) / self.std

    def clean(self, packed: torch.Tensor) -> torch.Tensor:
        """The standardised composite with each image's own background."""
        return self._finish(packed[:, :1], packed[:, 1:])

    def perturb_background(self, bg: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Replace each background with probability α (module docstring)."""
        b, _, h, w = bg.shape
        chosen = (torch.rand(b, generator=generator) < self.strength).to(bg.device)
        if self.mode == "swap":
            other = bg[derangement(b, generator).to(bg.device)] if b > 1 else bg
        else:
            dy = torch.randint(1, h, (b,), generator=generator)
            dx = torch.randint(1, w, (b,), generator=generator)
            other = torch.stack([bg[i].roll((int(dy[i]), int(dx[i])), dims=(1, 2)) for i in range(b)])
        return torch.where(chosen[:, None, None, None], other, bg)

    def __call__(self, packed: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One view of every packed image: standardised composite with a perturbed background."""
        fg, bg = packed[:, :1], packed[:, 1:]
        if self.strength > 0:
            bg = self.perturb_background(bg, generator)
        return self._finish(fg, bg)


def then(first: BackgroundViews, second: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """The view ``second(first(x))`` (e.g. background perturbation, then SimCLR's crop and jitter)."""

    def view(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return second(first(x, generator), generator)

    return view
