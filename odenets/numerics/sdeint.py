"""Fixed-grid SDE integration (``sdeint``) with Euler–Maruyama, and a torchsde bridge.

``sdeint(drift, diffusion, y0, t)`` integrates the Itô SDE ``dY = a(t, Y) dt + b(t, Y) ⊙ dW``
with diagonal noise on the grid ``t``, one step per interval, through the same stepper
(:func:`odenets.numerics.steps.prepare`) that the stochastic network blocks run. The Brownian
increments are an argument (``increments``) or drawn from an explicit ``torch.Generator``;
nothing reads global random state. With ``backend="torchsde"`` the call is handed to torchsde
(other methods such as ``milstein`` or ``srk``, and the adjoint of Li et al. 2020).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_choice
from .odeint import check_grid, check_state, checked_rate, walk
from .schemes import Scheme, get_scheme, list_schemes
from .steps import prepare

__all__ = ["brownian_increments", "sdeint"]

BACKENDS = ("odenets", "torchsde")
#: Seed of the generator ``sdeint`` makes when given neither a generator nor increments.
DEFAULT_SEED = 0


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
        shape: the shape of the state (diagonal noise: one Brownian motion per element).
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
    noise = torch.randn(
        (len(dt), *shape), generator=generator, dtype=dtype, device=generator.device
    )
    noise = noise.to(device if device is not None else noise.device)
    return noise * dt.to(noise.device).sqrt().reshape(-1, *([1] * len(shape)))


def sdeint(
    drift: Callable[[Tensor, Tensor], Tensor],
    diffusion: Callable[[Tensor, Tensor], Tensor],
    y0: Tensor,
    t: Tensor | Sequence[float],
    scheme: str | Scheme = "euler_maruyama",
    generator: torch.Generator | None = None,
    increments: Tensor | None = None,
    *,
    backend: str = "odenets",
    adjoint: bool = False,
) -> Tensor:
    """Integrate the Itô SDE ``dY = drift(t, Y) dt + diffusion(t, Y) ⊙ dW`` on a fixed grid.

    Args:
        drift: ``a(t, y)``, returning a tensor of ``y``'s shape.
        diffusion: ``b(t, y)``, diagonal noise: a tensor of ``y``'s shape, one independent
            Brownian motion per element of ``y``.
        y0: the initial state, a floating tensor of any shape.
        t: the grid, 1-D and strictly increasing; each interval is one step.
        scheme: a registered SDE scheme, whose step takes the increment
            (``"euler_maruyama"``: strong order 1/2, weak order 1) for the odenets backend, or
            a torchsde method name
            (``"euler"``, ``"milstein"``, ``"srk"``) for ``backend="torchsde"``.
        generator: the source of the Brownian increments. ``None`` (and no ``increments``):
            a fresh generator seeded with ``DEFAULT_SEED``, so a call is reproducible; pass
            your own generator for independent paths.
        increments: the Brownian increments themselves, shape ``(len(t) - 1, *y0.shape)``,
            ``increments[n] = W(t[n+1]) - W(t[n])``. Excludes ``generator``.
        backend: ``"odenets"`` (the library's own step) or ``"torchsde"``.
        adjoint: with torchsde, use ``sdeint_adjoint`` (``drift``/``diffusion`` that are
            ``nn.Module`` s get adjoint gradients).

    Returns:
        A tensor of shape ``(len(t), *y0.shape)`` with ``out[0] == y0``.
    """
    for name, fn in (("drift", drift), ("diffusion", diffusion)):
        if not callable(fn):
            raise TypeError(f"{name} must be callable as {name}(t, y), got {type(fn).__name__}")
    y0 = check_state(y0)
    grid = check_grid(t, y0)
    if grid.numel() > 1 and not bool((grid[1:] > grid[:-1]).all()):
        raise ValueError(
            f"sdeint needs an increasing grid (an Itô SDE is integrated forward in time), "
            f"got {grid.tolist() if grid.numel() <= 12 else 'a decreasing grid'}"
        )
    check_choice("backend", backend, BACKENDS)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
    expected = (grid.numel() - 1, *y0.shape)
    if increments is not None:
        if generator is not None:
            raise ValueError(
                "give either generator or increments, not both: the increments are the noise"
            )
        if not isinstance(increments, Tensor):
            raise TypeError(f"increments must be a torch.Tensor, got {type(increments).__name__}")
        if tuple(increments.shape) != expected:
            raise ValueError(
                f"increments must be of shape (len(t) - 1, *y0.shape) = {expected}, "
                f"got {tuple(increments.shape)}"
            )
        if not increments.is_floating_point():
            raise TypeError(f"increments must have a floating dtype, got {increments.dtype}")
    if backend == "torchsde":
        return _torchsde(drift, diffusion, y0, grid, scheme, generator, increments, adjoint)
    if adjoint:
        raise ValueError(
            "adjoint=True needs backend='torchsde'; the odenets backend differentiates "
            "through its steps with ordinary autograd"
        )
    spec = get_scheme(scheme)
    if spec.capabilities.noise != "increment":
        sde_schemes = list_schemes(where=lambda family: family.noise == "increment")
        raise ValueError(
            f"sdeint needs an SDE scheme (one whose step takes a Brownian increment), got "
            f"{spec.name!r} of family {spec.family!r}; SDE schemes: {sde_schemes}"
        )
    if increments is None:
        gen = generator if generator is not None else torch.Generator().manual_seed(DEFAULT_SEED)
        increments = brownian_increments(grid, y0.shape, gen, y0.dtype, y0.device)
    a = checked_rate(drift, "drift", y0.shape)
    b = checked_rate(diffusion, "diffusion", y0.shape, " (diagonal noise)")

    def field(stage: int, t: Any, y: Tensor) -> Tensor:
        return a(t, y) if stage == 0 else b(t, y)

    return walk(prepare(spec), field, y0, grid, states=increments.to(y0.dtype))


class _GridBrownian:
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
        return f"_GridBrownian(steps={len(self.grid) - 1}, shape={tuple(self.shape)})"


class _SDE(nn.Module):
    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, drift, diffusion, shape):
        super().__init__()
        self.drift, self.diffusion, self.shape = drift, diffusion, shape

    def f(self, t, y):
        return self.drift(t, y.reshape(self.shape)).reshape(y.shape)

    def g(self, t, y):
        return self.diffusion(t, y.reshape(self.shape)).reshape(y.shape)


def _torchsde(drift, diffusion, y0, grid, method, generator, increments, adjoint) -> Tensor:
    import torchsde
    from torchsde._brownian import BaseBrownian

    if isinstance(method, Scheme):
        method = method.name
    methods = ("euler", "milstein", "srk")
    check_choice("torchsde method (Itô, diagonal noise)", method, methods)
    flat = (1, y0.numel()) if y0.ndim < 2 else (y0.shape[0], y0[0].numel())
    sde = _SDE(
        checked_rate(drift, "drift", y0.shape),
        checked_rate(diffusion, "diffusion", y0.shape, " (diagonal noise)"),
        y0.shape,
    )
    if isinstance(drift, nn.Module):
        sde.add_module("drift_module", drift)
    if isinstance(diffusion, nn.Module):
        sde.add_module("diffusion_module", diffusion)
    dts = grid[1:] - grid[:-1]
    if increments is not None:
        if len(dts) > 1 and not torch.allclose(dts, dts[0].expand_as(dts), rtol=1e-9, atol=0):
            raise ValueError("given increments with the torchsde backend need a uniform grid")
        bm = _GridBrownian(grid, increments.reshape(len(dts), *flat))
        BaseBrownian.register(_GridBrownian)
    else:
        gen = generator if generator is not None else torch.Generator().manual_seed(DEFAULT_SEED)
        entropy = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        bm = torchsde.BrownianInterval(
            t0=float(grid[0]),
            t1=float(grid[-1]),
            size=flat,
            dtype=y0.dtype,
            device=y0.device,
            entropy=entropy,
            levy_area_approximation="space-time" if method == "srk" else "none",
        )
    solve = torchsde.sdeint_adjoint if adjoint else torchsde.sdeint
    dt = float(dts.min())
    ys = solve(sde, y0.reshape(flat), grid, bm=bm, method=method, dt=dt)
    return ys.reshape(len(grid), *y0.shape)
