"""Fixed-grid SDE integration (``sdeint``) with Euler–Maruyama, callable the way torchsde is.

``sdeint(drift, diffusion, y0, t)`` integrates the Itô SDE ``dY = a(t, Y) dt + b(t, Y) ⊙ dW``
with diagonal noise on the grid ``t``, through the same stepper
(:func:`odenets.numerics.steps.prepare`) that the stochastic network blocks run. torchsde's
call works too: ``sdeint(sde, y0, ts, bm=..., method="euler", dt=...)`` with an SDE object
(``f``, ``g``, ``noise_type``, ``sde_type``; diagonal, scalar, additive and general noise,
see :mod:`.sde_terms`). The Brownian increments come from an explicit source: ``increments``,
a ``generator``, a ``seed``, a torchsde Brownian object ``bm``, or, with none of these, a
generator freshly seeded from the operating system (two calls give different paths, as in
torchsde). torchsde's other methods (``milstein``, ``srk``, Stratonovich ones) and its adjoint
run on torchsde (``backend="torchsde"``, or chosen automatically by ``method=``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_choice
from .brownian import (
    BrownianQueries,
    GridBrownian,
    brownian_increments,
    check_brownian,
    fresh_generator,
    seeded_generator,
)
from .compat import check_sde_type, route_sde
from .schemes import Scheme, get_scheme, list_schemes
from .sde_terms import ProjectedNoise, SDETerms, call_form, stage_field
from .steps import prepare
from .trajectory import check_grid, check_state, check_step_size, checked_rate, refine, walk

__all__ = ["brownian_increments", "sdeint"]

BACKENDS = ("odenets", "torchsde")


def _sde_schemes() -> list[str]:
    return list_schemes(where=lambda family: family.noise == "increment")


def sdeint(
    drift: Callable[[Tensor, Tensor], Tensor] | Any,
    diffusion: Callable[[Tensor, Tensor], Tensor] | Tensor | None = None,
    y0: Tensor | Sequence[float] | None = None,
    t: Tensor | Sequence[float] | Any = None,
    scheme: str | Scheme | None = None,
    generator: torch.Generator | None = None,
    increments: Tensor | None = None,
    *,
    ts: Tensor | Sequence[float] | None = None,
    method: str | None = None,
    dt: float | None = None,
    bm: Any = None,
    seed: int | None = None,
    backend: str | None = None,
    adjoint: bool = False,
) -> Tensor:
    """Integrate the Itô SDE ``dY = drift(t, Y) dt + diffusion(t, Y) dW`` on a fixed grid.

    Two calling forms: ``sdeint(drift, diffusion, y0, t, ...)`` (diagonal noise), or
    torchsde's ``sdeint(sde, y0, ts, bm=None, ...)`` with an SDE object (attributes
    ``noise_type`` in diagonal/scalar/additive/general and ``sde_type``; methods ``f(t, y)``
    and ``g(t, y)``; the shapes of :mod:`odenets.numerics.sde_terms`).

    Args:
        drift: ``a(t, y)``, returning a tensor of ``y``'s shape and dtype; or the SDE object.
        diffusion: ``b(t, y)``, diagonal noise: a tensor of ``y``'s shape, one independent
            Brownian motion per element of ``y``. (The state ``y0`` in the SDE-object form.)
        y0: the initial state, a floating tensor of any shape (``(batch, d)`` for
            non-diagonal noise).
        t: the output grid, 1-D and strictly increasing; each interval is one step unless
            ``dt`` subdivides it (``ts`` is torchsde's name for it).
        scheme: a registered SDE scheme whose step takes the increment (default
            ``"euler_maruyama"``: strong order 1/2, weak order 1). With ``backend="torchsde"``:
            torchsde's solver of the same arithmetic (``euler_maruyama`` -> ``"euler"``), or a
            torchsde method name (``"milstein"``, ``"srk"``, ...).
        generator: the source of the Brownian increments (reproducible: the same seeded
            generator gives the same path).
        increments: the Brownian increments themselves, shape ``(steps, *noise)`` with
            ``increments[n] = W(s_{n+1}) - W(s_n)`` over the walked grid ``s`` (``t``, refined
            by ``dt``).
        ts: torchsde's name for ``t``.
        method: torchsde's method name instead of ``scheme`` (exclusive): ``"euler"`` runs
            odenets' Euler–Maruyama (the same arithmetic); every other torchsde method runs on
            torchsde.
        dt: the largest step: every interval of ``t`` is split into ``ceil(|dt_n| / dt)``
            equal steps landing exactly on the output times (``None``: one step per interval).
        bm: a torchsde Brownian object (``BrownianInterval``, ``BrownianPath``,
            ``BrownianTree``) of the noise's shape; step ``n`` uses ``bm(s_n, s_{n+1})``, so
            the path equals torchsde's with the same ``bm``.
        seed: an int: the increments come from a fresh generator seeded with it.
        backend: ``None`` (decide from the name), ``"odenets"`` or ``"torchsde"``.
        adjoint: with torchsde, ``sdeint_adjoint`` (terms that are ``nn.Module`` s get
            adjoint gradients).

    At most one of ``generator``, ``seed``, ``increments`` and ``bm`` may be given; with none,
    the increments come from a generator seeded from the operating system: every call draws a
    new path (PyTorch's global random state is not used).

    Returns:
        A tensor of shape ``(len(t), *y0.shape)`` with ``out[0] == y0``.
    """
    if backend is not None:
        check_choice("backend", backend, BACKENDS)
    terms, y0, t, bm_positional = call_form(drift, diffusion, y0, t, ts, backend == "torchsde")
    if bm_positional is not None:
        if bm is not None:
            raise TypeError("sdeint(sde, y0, ts, bm): bm was given twice")
        bm = bm_positional
    y0 = check_state(y0)
    grid = check_grid(t, y0, increasing=True)
    if not isinstance(adjoint, bool):
        raise TypeError(f"adjoint must be True or False, got {adjoint!r}")
    step = None if dt is None else check_step_size(dt, "dt")
    sources = {
        k: v
        for k, v in (
            ("generator", generator),
            ("seed", seed),
            ("increments", increments),
            ("bm", bm),
        )
        if v is not None
    }
    if len(sources) > 1:
        raise ValueError(
            f"give at most one source of noise (generator, seed, increments or bm), got "
            f"{sorted(sources)}"
        )
    if generator is not None and not isinstance(generator, torch.Generator):
        hint = ""
        if terms.source is not None and isinstance(generator, int | float):
            hint = "; in sdeint(sde, y0, ts, bm, ...) pass method= and dt= by keyword"
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}{hint}"
        )
    if seed is not None:
        generator = seeded_generator(seed, y0.device)
    if increments is not None:
        if not isinstance(increments, Tensor):
            raise TypeError(f"increments must be a torch.Tensor, got {type(increments).__name__}")
        if not increments.is_floating_point():
            raise TypeError(f"increments must have a floating dtype, got {increments.dtype}")
    route = route_sde(scheme, method, backend, _sde_schemes())
    if adjoint and route.backend != "torchsde":
        raise ValueError(
            "adjoint=True needs backend='torchsde'; the odenets backend differentiates "
            "through its steps with ordinary autograd"
        )
    if route.backend == "torchsde":
        check_sde_type(route.name, terms.sde_type)
        return _torchsde(terms, y0, grid, route.name, step, generator, increments, bm, adjoint)
    spec = get_scheme(route.name)
    if spec.capabilities.noise != "increment":
        raise ValueError(
            f"sdeint needs an SDE scheme (one whose step takes a Brownian increment), got "
            f"{spec.name!r} of family {spec.family!r}; SDE schemes: {_sde_schemes()}"
        )
    if terms.sde_type != "ito":
        raise ValueError(
            f"{spec.name!r} integrates Itô SDEs, got sde_type={terms.sde_type!r}; for a "
            "Stratonovich SDE pass method='midpoint', 'heun', 'reversible_heun', 'euler_heun' "
            "or 'log_ode' (they run on torchsde)"
        )
    walked, keep = refine(grid, step)
    shape = terms.noise_shape(y0, grid.times[0])
    noise = _noise(walked, shape, y0, generator, increments, bm, terms.noise_type)
    if terms.noise_type != "diagonal":
        noise = ProjectedNoise(terms, noise, y0, shape[-1])
    field = stage_field(terms, y0, noise)
    return walk(prepare(spec), field, y0, walked, states=noise, keep=keep)


def _noise(walked, shape, y0, generator, increments, bm, noise_type) -> Any:
    """The increments of every walked step (a tensor, or queries of ``bm``)."""
    expected = (walked.steps, *shape)
    if increments is not None:
        if tuple(increments.shape) != expected:
            what = "*y0.shape" if noise_type == "diagonal" else "batch, m"
            raise ValueError(
                f"increments must be of shape (steps, {what}) = {expected} (one increment per "
                f"step of the walked grid: len(t) - 1, or more with dt), got "
                f"{tuple(increments.shape)}"
            )
        return increments.to(y0.dtype)
    if bm is not None:
        check_brownian(bm, shape, y0, noise_type)
        return BrownianQueries(bm, walked.values, y0.device)
    gen = generator if generator is not None else fresh_generator(y0.device)
    return brownian_increments(walked.times.detach(), shape, gen, y0.dtype, y0.device)


class _SDE(nn.Module):
    """The functional form as a torchsde SDE on flattened ``(batch, rest)`` states."""

    noise_type = "diagonal"
    sde_type = "ito"

    def __init__(self, drift, diffusion, shape):
        super().__init__()
        self.drift, self.diffusion, self.shape = drift, diffusion, shape

    def f(self, t, y):
        return self.drift(t, y.reshape(self.shape)).reshape(y.shape)

    def g(self, t, y):
        return self.diffusion(t, y.reshape(self.shape)).reshape(y.shape)


#: Lévy area the torchsde methods need from a Brownian motion odenets creates for them.
_LEVY = {"srk": "space-time", "log_ode": "foster"}


def _torchsde(terms: SDETerms, y0, grid, method, step, generator, increments, bm, adjoint):
    import torchsde
    from torchsde._brownian import BaseBrownian

    times, v = grid.times, grid.values
    if terms.source is None:  # the functional form, flattened to torchsde's (batch, d)
        flat = (1, y0.numel()) if y0.ndim < 2 else (y0.shape[0], y0[0].numel())
        sde = _SDE(
            checked_rate(terms.drift, "drift", y0.shape, "", y0.dtype),
            checked_rate(terms.diffusion, "diffusion", y0.shape, " (diagonal noise)", y0.dtype),
            y0.shape,
        )
        for name, fn in (("drift_module", terms.drift), ("diffusion_module", terms.diffusion)):
            if isinstance(fn, nn.Module):
                sde.add_module(name, fn)
        state = y0.reshape(flat)
    else:
        sde, state = terms.source, y0
        if adjoint and not isinstance(sde, nn.Module):
            raise TypeError(
                f"adjoint=True needs the SDE object to be a torch.nn.Module (its parameters "
                f"get adjoint gradients), got {type(sde).__name__}"
            )
    dts = [b - a for a, b in pairwise(v)]
    dt = step if step is not None else (min(dts) if dts else 1.0)
    if increments is not None:
        if not grid.uniform(1e-9) or (step is not None and abs(step - dts[0]) > 1e-12 * dts[0]):
            raise ValueError(
                "given increments with the torchsde backend need a uniform grid and one step "
                "per interval (dt unset or equal to the spacing)"
            )
        size = _noise_size(terms, state, times[0])
        if tuple(increments.shape[1:]) != tuple(y0.shape if terms.source is None else size) or (
            increments.shape[0] != len(dts)
        ):
            raise ValueError(
                f"increments must be of shape (len(t) - 1, *noise) = "
                f"{(len(dts), *(y0.shape if terms.source is None else size))}, got "
                f"{tuple(increments.shape)}"
            )
        bm = GridBrownian(times, increments.reshape(len(dts), *size).to(y0.dtype))
        BaseBrownian.register(GridBrownian)
    elif bm is None and (generator is not None or terms.source is None):
        gen = generator if generator is not None else fresh_generator()
        entropy = int(torch.randint(0, 2**62, (1,), generator=gen, device=gen.device))
        bm = torchsde.BrownianInterval(
            t0=v[0],
            t1=v[-1],
            size=_noise_size(terms, state, times[0]),
            dtype=y0.dtype,
            device=y0.device,
            entropy=entropy,
            levy_area_approximation=_LEVY.get(method, "none"),
        )
    # else: the given bm, or (an SDE object, no source) torchsde's own fresh BrownianInterval
    solve = torchsde.sdeint_adjoint if adjoint else torchsde.sdeint
    ys = solve(sde, state, times, bm=bm, method=method, dt=dt)
    return ys.reshape(len(v), *y0.shape) if terms.source is None else ys


def _noise_size(terms: SDETerms, state: Tensor, t0: Tensor) -> tuple[int, ...]:
    """The Brownian size torchsde needs (``g`` probed once for non-diagonal noise)."""
    if terms.noise_type == "diagonal":
        return tuple(state.shape)
    if terms.diffusion is None:
        raise ValueError(
            "an SDE object without g(t, y) and non-diagonal noise needs bm= (the number of "
            "Brownian motions cannot be read otherwise)"
        )
    return terms.noise_shape(state, t0)
