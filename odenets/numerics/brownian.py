"""Brownian increments for ``sdeint``: drawn from an explicit generator, read from given
increments, or queried from a torchsde Brownian object; and the grid Brownian motion that hands
given increments to torchsde.

Randomness is always an argument: a fresh generator is seeded from the operating system's
entropy (:func:`fresh_generator`), never from PyTorch's global random state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .._validate import check_int

__all__ = [
    "BrownianQueries",
    "GridBrownian",
    "brownian_increments",
    "check_brownian",
    "fresh_generator",
    "seeded_generator",
]


def fresh_generator(device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded non-deterministically (``Generator.seed()``: entropy
    from the operating system); PyTorch's global random state is neither read nor advanced."""
    gen = torch.Generator(device=device)
    gen.seed()
    return gen


def seeded_generator(seed: Any, device: torch.device | str = "cpu") -> torch.Generator:
    """A generator on ``device`` seeded with the int ``seed`` (``>= 0``)."""
    check_int("seed", seed, 0)
    return torch.Generator(device=device).manual_seed(seed)


def brownian_increments(
    t: Tensor | Sequence[float],
    shape: Sequence[int],
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """Independent Gaussian increments ``ΔW_n ~ N(0, t_{n+1} - t_n)`` elementwise.

    Args:
        t: the increasing time grid.
        shape: the shape of one increment (diagonal noise: the state's shape).
        generator: the random source; the same seed gives the same increments.
        dtype, device: of the result (drawn on the generator's device, then moved).

    Returns:
        A tensor of shape ``(len(t) - 1, *shape)``.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    grid = torch.as_tensor(t, dtype=torch.float64)
    dt = (grid[1:] - grid[:-1]).to(dtype)
    if (dt <= 0).any():
        raise ValueError(f"t must be strictly increasing, got {grid.tolist()}")
    shape = tuple(shape)
    draw_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    noise = torch.randn(
        (len(dt), *shape), generator=generator, dtype=draw_dtype, device=generator.device
    )
    noise = noise.to(device=device if device is not None else noise.device, dtype=dtype)
    return noise * dt.to(noise.device).sqrt().reshape(-1, *([1] * len(shape)))


def check_brownian(bm: Any, shape: tuple[int, ...], like: Tensor, noise: str) -> Any:
    """``bm`` must be a Brownian motion object (torchsde's ``BrownianInterval``,
    ``BrownianPath``, ``BrownianTree``: callable as ``bm(ta, tb)``, with ``shape`` and
    ``dtype``) of the noise's shape and the state's dtype."""
    if not callable(bm) or not hasattr(bm, "shape") or not hasattr(bm, "dtype"):
        raise TypeError(
            "bm must be a Brownian motion object such as torchsde.BrownianInterval (callable "
            f"as bm(ta, tb), with .shape and .dtype), got {type(bm).__name__}"
        )
    if tuple(bm.shape) != tuple(shape):
        raise ValueError(
            f"bm must be of shape {tuple(shape)} for {noise} noise (one Brownian motion per "
            f"{'element of y' if noise == 'diagonal' else 'noise channel'}), got "
            f"{tuple(bm.shape)}"
        )
    if bm.dtype != like.dtype:
        raise TypeError(f"bm must have y0's dtype {like.dtype}, got {bm.dtype}")
    return bm


class BrownianQueries:
    """``queries[n] = bm(t_n, t_{n+1})``: the increments of a Brownian object over the steps
    of a grid, queried in order (as torchsde's fixed-step solvers query them)."""

    def __init__(self, bm: Any, times: Sequence[float], device: torch.device) -> None:
        self.bm, self.times, self.device = bm, tuple(times), device

    def __len__(self) -> int:
        return len(self.times) - 1

    def __getitem__(self, n: int) -> Tensor:
        return self.bm(self.times[n], self.times[n + 1]).to(self.device)


class GridBrownian:
    """A Brownian path known only at the grid points, from given increments (for torchsde).

    Queries must fall on grid points (up to rounding); torchsde's fixed-step solvers with
    ``dt`` equal to the (uniform) grid spacing only ask for those.
    """

    def __init__(self, grid: Tensor, increments: Tensor) -> None:
        self.grid = grid.detach().double()
        zero = torch.zeros_like(increments[:1])
        self.path = torch.cat([zero, increments.cumsum(0)])
        self._tol = 1e-9 * max(1.0, float(self.grid.abs().max()))

    def _at(self, t: Any) -> Tensor:
        t = float(t)
        k = int(torch.argmin((self.grid - t).abs()))
        if abs(float(self.grid[k]) - t) > self._tol:
            raise ValueError(
                f"torchsde asked for the Brownian motion at t={t}, between grid points; with "
                f"given increments use a uniform grid and a fixed-step method"
            )
        return self.path[k]

    def __call__(self, ta, tb=None, return_U=False, return_A=False):
        if return_U or return_A:
            raise ValueError(
                "given increments carry no space-time Lévy area; use a torchsde method that "
                "needs none ('euler', 'milstein'), or leave increments=None"
            )
        return self._at(ta) if tb is None else self._at(tb) - self._at(ta)

    # torchsde inspects these
    @property
    def dtype(self):
        return self.path.dtype

    @property
    def device(self):
        return self.path.device

    @property
    def shape(self):
        return self.path.shape[1:]

    def size(self):
        return self.shape

    levy_area_approximation = "none"

    def __repr__(self) -> str:
        return f"GridBrownian(steps={len(self.grid) - 1}, shape={tuple(self.shape)})"
