"""Network blocks that are literally steps of a scheme.

:class:`SchemeBlock` wraps learned residual function(s) ``F`` and applies one step of a
registered scheme through :func:`odenets.numerics.steps.prepare` — the same code ``odeint``
runs, so a block with tied weights and step ``h`` equals ``odeint(F, x, [0, h], scheme)[-1]``.
One block serves every family; what differs between families is read from their declared
capabilities (:mod:`odenets.numerics.families`), never from their names:

* per-slot fields (``tie="none"``): one module per field slot of the step (Runge–Kutta stages,
  the powers of an implicit series, RevNet's ``[F, G]`` — half-width fields of a partitioned
  family read the other half of the state);
* noise (a :class:`~odenets.networks.noise.NoiseModel`): the fields are the model's branches;
  an SDE step (``noise="increment"``) sees the drift and the diffusion as its two slots and the
  drawn increment as its state; a multistep step (``noise="slope"``) steps on the random slope
  ``a + b ΔW / h``;
* a shortcut ``P`` makes the block a :class:`Transition` between network stages: the step is
  taken from ``P(x)``, and the slots it evaluates at its start point read ``x`` itself
  (``y = P(x) + h F(x)`` for Euler; RevNet's ``y1 = P(x1) + F(x2), y2 = P(x2) + G(y1)``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._validate import check_number
from ..numerics.schemes import Scheme, get_scheme, list_schemes
from ..numerics.steps import Increment, prepare_inverse
from ..numerics.steps._partition import separable_input, split_dim
from ..numerics.steps.stochastic import noisy_slope
from .coefficients import make_coefficients
from .noise import NoiseModel, NoiseSource, get_noise

__all__ = ["SchemeBlock", "StochasticBlock", "Transition", "make_coefficients"]  # re-exported


def _const(a: Tensor, b: Tensor | None = None):
    """A stage field returning ``a`` for slot 0 and ``b`` for slot 1 (already evaluated)."""

    def f(slot: int, t: Any, y: Tensor) -> Tensor:
        return a if slot == 0 else b

    return f


class SchemeBlock(nn.Module):
    """One step ``y = Phi_h(x)`` of ``scheme`` around learned residual function(s).

    Args:
        scheme: a registered scheme id or :class:`~odenets.Scheme`; its ``architecture`` says
            which network block this is (``euler``: the ResNet block ``x + F(x)``).
        fields: one module ``F`` used by every field slot of the step (tied: the parameter
            count of a ResNet block, ``stages`` times the compute), or a sequence with one
            module per slot (``steps.field_slots(scheme, options)``; the discrete multi-path
            architectures). With ``noise``: the noise model's branches.
        h: the step size multiplying ``F`` (``h = 1``: the usual residual block).
        learn: learn the scheme's coefficients (``lm``: one scalar ``k`` per block). Default:
            the scheme's own choice (:attr:`Scheme.learnable`).
        coefficients: fixed values of the scheme's coefficients when not learned, or initial
            values when learned (default: the coefficient's default / its ``init`` range).
        options: the scheme's step options (:attr:`Scheme.options`), e.g.
            ``{"solver": "series", "order": 2}`` for PolyNet-style implicit blocks.
        noise: a :class:`~odenets.networks.noise.NoiseModel` (or its name) that makes the step
            stochastic in training (see the module docstring); needs ``source``.
        source: the :class:`~odenets.networks.noise.NoiseSource` the noise is drawn from.
        shortcut: the projection ``P`` of a stage transition (see :class:`Transition`).
        project: a map applied to the result of every step, ``y = project(Phi_h(x))``
            (``nn.ReLU()``: He et al.'s post-activation ResNet is the Euler step followed by a
            ReLU, a projection onto the positive cone). The step's state is not projected.

    Partitioned schemes (``coupled_euler``, ``verlet``): a single module is a field on the
    whole state (its own half of the result is used, as in ``odeint``); one module per slot
    ``[F, G]`` are half-width fields, ``F`` reading the second half and ``G`` the first, and
    the block then has an exact :meth:`inverse`.
    """

    def __init__(
        self,
        scheme: str | Scheme,
        fields: nn.Module | Sequence[nn.Module],
        h: float = 1.0,
        *,
        learn: bool | None = None,
        coefficients: Mapping[str, Any] | None = None,
        options: Mapping[str, Any] | None = None,
        noise: str | NoiseModel | None = None,
        source: NoiseSource | None = None,
        shortcut: nn.Module | None = None,
        project: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.scheme = get_scheme(scheme)
        family = self.scheme.capabilities
        _, self._resolved = self.scheme.resolve(None, options)
        self.options = dict(options or {})
        self.h = check_number("h", h, positive=True)
        if shortcut is not None and not isinstance(shortcut, nn.Module):
            raise TypeError(f"shortcut must be an nn.Module, got {type(shortcut).__name__}")
        self.shortcut = shortcut
        if project is not None and not isinstance(project, nn.Module):
            raise TypeError(f"project must be an nn.Module, got {type(project).__name__}")
        self.project = project
        self.noise = None if noise is None else get_noise(noise)
        self.source = source
        if self.noise is not None:
            self._init_noise(family, fields, source)
        else:
            self._init_fields(family, fields)
        self.learn, self.coefficients, self._fixed = make_coefficients(
            self.scheme, learn, coefficients, options
        )
        self._hot_path(family)
        self._stepper = None if self.learn else self._bind()

    # ------------------------------------------------------------------ construction

    def _init_fields(self, family, fields) -> None:
        slots = family.slot_count(self.scheme, self._resolved)
        if isinstance(fields, nn.Module):
            self.fields = nn.ModuleList([fields])
            self._index = (0,) * slots
        elif (
            isinstance(fields, Sequence)
            and fields
            and all(isinstance(m, nn.Module) for m in fields)
        ):
            if len(fields) != slots:
                raise ValueError(
                    f"scheme {self.scheme.name!r} reads {slots} field slot(s) per step: give "
                    f"one module for all of them or {slots} modules, got {len(fields)}"
                )
            self.fields = nn.ModuleList(fields)
            self._index = tuple(range(slots))
        else:
            raise TypeError(
                f"fields must be an nn.Module or a sequence of them, got {type(fields).__name__}"
            )
        # one module per slot of a partitioned family: half-width fields reading the other half
        self._separable = family.partitioned and len(self.fields) == slots > 1
        self._dim = self._resolved.get("dim") if family.partitioned else None

    def _init_noise(self, family, fields, source) -> None:
        if family.noise is None:
            noisy = list_schemes(where=lambda f: f.noise is not None)
            raise ValueError(
                f"scheme {self.scheme.name!r} (family {self.scheme.family!r}) cannot take "
                f"noise: a noisy block is an SDE step, or a multistep step on the noisy slope; "
                f"use one of {noisy}, e.g. 'euler_maruyama' for a noisy ResNet"
            )
        if not isinstance(source, NoiseSource):
            raise TypeError(
                f"a noisy block needs source=NoiseSource(...), got {type(source).__name__}"
            )
        branches = [fields] if isinstance(fields, nn.Module) else fields
        if not isinstance(branches, Sequence) or not all(
            isinstance(m, nn.Module) for m in branches
        ):
            raise TypeError(f"fields must be nn.Modules, got {type(fields).__name__}")
        if len(branches) != self.noise.branches:
            raise ValueError(
                f"noise {self.noise.name!r} needs {self.noise.branches} residual branch(es) per "
                f"block, got {len(branches)}"
            )
        self.fields = nn.ModuleList(branches)
        self._index = tuple(range(len(branches)))
        self._separable, self._dim = False, None

    def _hot_path(self, family) -> None:
        """Look up once what every forward needs, so that a step does no registry lookups,
        builds no closure and copies no dict: the family's binder and capabilities, and the
        field module of each slot (through the live table of ``self.fields``, so that
        replacing a field module, e.g. by a synchronized batch norm, is seen)."""
        self._binder = family.bind
        self._increment = family.noise == "increment"  # an SDE step: the increment is the state
        self._whole = not family.partitioned  # a partitioned step checks its rates itself
        self._table = self.fields._modules
        self._keys = tuple(str(i) for i in self._index)
        # the learned coefficients by name (the live parameter table of ``self.coefficients``)
        self._learned = self.coefficients._parameters

    def _bind(self):
        """The stepper at the current coefficient values (once at construction for fixed
        coefficients; per forward for learned ones, whose values are tensors in the graph)."""
        values = {**self._fixed, **self.coefficients.resolved()} if self._learned else self._fixed
        return self._binder(self.scheme, values, self._resolved)

    # ------------------------------------------------------------------ properties

    @property
    def f_evals(self) -> int:
        """Nominal evaluations of a residual function per forward: the scheme's stages (the
        noise model's branches for a noisy block). Iterative implicit realizations evaluate
        more; :func:`odenets.count_field_calls` measures the real number."""
        return self.noise.branches if self.noise is not None else self.scheme.stages

    @property
    def reversible(self) -> bool:
        """Whether :meth:`inverse_step` is exact: an invertible family (a partitioned one with
        half-width fields), no noise, no shortcut and no projection after the step."""
        family = self.scheme.capabilities
        return (
            family.invertible
            and (self._separable or not family.partitioned)
            and self.noise is None
            and self.shortcut is None
            and self.project is None
        )

    # ------------------------------------------------------------------ the step

    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"a SchemeBlock takes a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"a SchemeBlock takes a floating tensor (float32/float64/...), got {x.dtype}; "
                "convert the input with .float()"
            )

    def _field(self, x: Tensor, base: Tensor):
        """The stage field ``f(slot, t, y)`` of a transition's step from input ``x`` and
        projected start ``base``: slots evaluated at the start point read ``x`` itself."""
        table, keys, separable, dim = self._table, self._keys, self._separable, self._dim
        whole = self._whole

        def f(slot: int, t: Any, y: Tensor) -> Tensor:
            z = x if y is base else y
            if separable:
                z = separable_input(slot, z, dim)
            out = table[keys[slot]](z)
            if not isinstance(out, Tensor):
                raise _bad_output(self, slot, out, y)
            if separable:
                want = list(y.shape)
                want[split_dim(y, dim)] //= 2
                if list(out.shape) != want:
                    raise _bad_output(self, slot, out, y, tuple(want))
            elif whole and out.shape != y.shape:
                raise _bad_output(self, slot, out, y, tuple(y.shape))
            return out

        return f

    def _slot_field(self, slot: int, t: Any, y: Tensor) -> Tensor:
        """The stage field of a block without shortcut: the slot's module on the state it is
        given (a partitioned step takes its own half of a whole-state rate)."""
        out = self._table[self._keys[slot]](y)
        if not isinstance(out, Tensor) or (self._whole and out.shape != y.shape):
            raise _bad_output(self, slot, out, y, tuple(y.shape))
        return out

    def _separable_field(self, slot: int, t: Any, z: Tensor) -> Tensor:
        """Half-width fields of a partitioned step (RevNet's ``[F, G]``), called with the half
        they read (slot 0 the second half of the state, slot 1 the first; ``reads_half``, see
        :mod:`odenets.numerics.steps._partition`); each returns a rate of that shape."""
        out = self._table[self._keys[slot]](z)
        if not isinstance(out, Tensor) or out.shape != z.shape:
            raise _bad_output(self, slot, out, z, tuple(z.shape))
        return out

    _separable_field.reads_half = True

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Advance ``x`` one step from explicit ``state`` (``None``: a fresh start); returns
        ``(y, state)`` for the next step."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            self._check_input(x)
        if torch.compiler.is_compiling():
            _static(x)
        stepper = self._stepper if self._stepper is not None else self._bind()
        if self.noise is not None:
            base = x if self.shortcut is None else self.shortcut(x)
            y, state = self._noisy_step(stepper, x, base, state)
            if torch.compiler.is_compiling():  # after the draw's graph break: a new frame
                _static(y)
        elif self.shortcut is None:
            field = self._separable_field if self._separable else self._slot_field
            y, state = stepper(field, 0.0, x, self.h, state)
        else:
            base = self.shortcut(x)
            y, state = stepper(self._field(x, base), 0.0, base, self.h, state)
        return (y, state) if self.project is None else (self.project(y), state)

    def forward(self, x: Tensor) -> Tensor:
        """``self.step(x)[0]``: one step from a fresh state, whatever state it returns is
        dropped. A :class:`~odenets.SchemeStage` threads it with :meth:`step` instead."""
        learned = len(self.coefficients) > 0
        if learned and self.scheme.capabilities.history and not getattr(self, "_warned", False):
            self._warned = True  # once per block
            warnings.warn(_fresh_start_message(self), UserWarning, stacklevel=4)
        return self.step(x)[0]

    def _branch_outputs(self, x: Tensor, base: Tensor, rows: Tensor | None = None) -> list[Tensor]:
        """The noise model's branches ``F_i(x)``, of the shape of ``base``; with ``rows`` they
        are evaluated on those samples only (at least one) and are zero on the others."""
        if rows is not None:
            kept = self._branch_outputs(x.index_select(0, rows), base.index_select(0, rows))
            return [out.new_zeros(base.shape).index_copy(0, rows, out) for out in kept]
        outputs = self.noise.branch_outputs(self.fields, x, None, base)
        for i, out in enumerate(outputs):
            if not isinstance(out, Tensor) or out.shape != base.shape:
                raise _bad_output(self, i, out, base, tuple(base.shape))
        return outputs

    def _noisy_step(self, stepper, x: Tensor, base: Tensor, state: Any) -> tuple[Tensor, Any]:
        noise, h = self.noise, self.h
        if not self.training:  # the expected step: the drift alone
            a = noise.drift(self._branch_outputs(x, base), h)
            return stepper(_const(a), 0.0, base, h, None if self._increment else state)
        return self._drawn_step(stepper, x, base, state)

    @torch.compiler.disable(recursive=False)
    def _drawn_step(self, stepper, x: Tensor, base: Tensor, state: Any) -> tuple[Tensor, Any]:
        """A training step: the draw, then the step for the samples the draw changes.

        Under ``torch.compile`` this is a frame of its own (not inlined into the block's
        step): the draw breaks the graph (one break per noisy block and training forward),
        and the code after it, which picks the case "all", "some" or "no samples changed" and
        takes its step, is compiled once per case, block class and input shape, and shared by
        every block. Nothing in it depends on the block itself (a survival probability is a
        graph input, not a constant), so the number of graphs grows with the stages of a
        network, not with its depth or with the draws; a frame that specialised per block ran
        into dynamo's recompile limit (8) at 54 blocks and fell back to eager.
        """
        dw, rows = _draw(self.noise, base, self.h, self.source.generator)
        if rows is None:
            return self._step_all(stepper, x, base, state, dw)
        if rows.shape[0] == 0:
            return self._step_none(stepper, base, state)
        return self._step_rows(stepper, x, base, state, dw, rows)

    def _step_all(self, stepper, x: Tensor, base: Tensor, state: Any, dw: Any):
        """The training step when the draw changes every sample (the branches on all)."""
        if torch.compiler.is_compiling():
            _static(x, base, *(dw or ()))
        if self._increment:
            return self._increment_step(stepper, x, base, dw), None
        return self._slope_step(stepper, base, state, dw, self._branch_outputs(x, base))

    def _step_rows(self, stepper, x: Tensor, base: Tensor, state: Any, dw: Any, rows: Tensor):
        """The training step when the draw changes the samples ``rows`` only."""
        if torch.compiler.is_compiling():
            _static(x, base, *(dw or ()))
        if self._increment:
            return self._increment_step(stepper, x, base, dw, rows), None
        return self._slope_step(stepper, base, state, dw, self._branch_outputs(x, base, rows))

    def _step_none(self, stepper, base: Tensor, state: Any):
        """The training step when the draw changes no sample (a dropped block): no branch is
        evaluated; an SDE step is the identity, a multistep step steps on a zero slope."""
        if self._increment:
            return base, None
        if torch.compiler.is_compiling():
            _static(base)
            # a zero of the autograd graph: the history the next block reads then requires
            # grad whether this block was dropped or not, so one compiled graph serves both
            zero = base * 0.0
        else:
            zero = base.new_zeros(()).expand_as(base)
        outputs = [zero] * self.noise.branches
        return self._slope_step(stepper, base, state, None, outputs)

    def _slope_step(self, stepper, base: Tensor, state: Any, dw: Any, outputs: list[Tensor]):
        """A multistep step on the random slope ``a + b ΔW / h`` of the branch outputs (zero
        on the samples the draw leaves unchanged)."""
        a = self.noise.drift(outputs, self.h)
        b = None if dw is None else self.noise.diffusion(outputs, self.h)
        return stepper(_const(noisy_slope(a, b, dw, self.h)), 0.0, base, self.h, state)

    def _increment_step(
        self, stepper, x: Tensor, base: Tensor, dw: Any, rows: Tensor | None = None
    ) -> Tensor:
        """One SDE step from ``base`` with the branches evaluated at ``x``.

        Samples the draw leaves unchanged (``rows`` excludes them: stochastic depth's dropped
        samples, where ``a = b = 0``) are copied through and their branches never evaluated;
        the step runs on the remaining rows (at least one) only.
        """
        full = None
        if rows is not None:
            same = x is base
            full, base = base, base.index_select(0, rows)
            x = base if same else x.index_select(0, rows)
            dw = Increment(*(None if v is None else v.index_select(0, rows) for v in dw))
        outputs = self._branch_outputs(x, base)
        a = self.noise.drift(outputs, self.h)
        b = None if dw is None else self.noise.diffusion(outputs, self.h)
        y, _ = stepper(_const(a, b), 0.0, base, self.h, dw)
        return y if full is None else full.index_copy(0, rows, y)

    def sde(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Noisy blocks: the drift ``a(x)`` and diffusion ``b(x)`` of this block's SDE at
        ``x``; training is ``x + h a + b ⊙ ΔW`` with ``E[ΔW] = 0``, ``Var[ΔW] = h``, evaluation
        ``x + h a``. (Shake-shake: ``a = ½(g1 + g2)``, ``b = sqrt(h/12)(g1 - g2)`` with
        ``g_i = F_i / h``.)"""
        if self.noise is None:
            raise ValueError("sde() describes a noisy block; this one has no noise model")
        outputs = self.noise.branch_outputs(self.fields, x, None)
        return self.noise.drift(outputs, self.h), self.noise.diffusion(outputs, self.h)

    def describe(self) -> str:
        """The block's step in words (its SDE for a noisy block)."""
        if self.noise is not None:
            return self.noise.describe(self.h)
        return f"{self.scheme.name} step, h = {self.h:g}: {self.scheme.architecture}"

    # ------------------------------------------------------------------ inverse

    def inverse_step(self, y: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """The input ``(x, state_in)`` with ``self.step(x, state_in) == (y, state)``
        (reversible blocks only; exact up to rounding in eval mode, and in training mode for
        the same batch)."""
        invert = prepare_inverse(self.scheme, self._values(), self.options)  # ValueError if none
        if not self.reversible:
            why = (
                "it has one field on the whole state, whose rate of x1 may depend on x1; build "
                "it with one half-width field per slot [F, G] (RevNet) to make it reversible"
                if self.scheme.capabilities.partitioned
                else "noisy, transition and projected blocks discard information"
            )
            raise ValueError(f"this {self.scheme.name!r} block has no exact inverse: {why}")
        field = self._separable_field if self._separable else self._slot_field
        return invert(field, 0.0, y, self.h, state)

    def inverse(self, y: Tensor) -> Tensor:
        """The input ``x`` with ``self(x) == y``, for reversible blocks whose family threads no
        state (for those that do, e.g. momentum, use :meth:`inverse_step` with the state)."""
        if self.scheme.capabilities.history:
            raise ValueError(
                f"a {self.scheme.name!r} step threads state (e.g. a velocity) that its output "
                "alone does not determine: use inverse_step(y, state)"
            )
        return self.inverse_step(y, None)[0]

    def _values(self) -> dict[str, Any]:
        return {**self._fixed, **self.coefficients.resolved()}

    def extra_repr(self) -> str:
        extra = f", noise={self.noise.name!r}" if self.noise is not None else ""
        return f"scheme={self.scheme.name!r}, h={self.h:g}{extra}"


def _fresh_start_message(block) -> str:
    """Why a history-threading block with learned coefficients misbehaves through forward."""
    name, learned = block.scheme.name, ", ".join(block.coefficients)
    effect = (
        f"from an empty state the {name!r} step is forward Euler, so its learned {learned} has "
        "no effect"
        if block.scheme.capabilities.euler_start
        else "the state restarts at every call, so the history a stage carries from block to "
        "block is lost"
    )
    return (
        f"a {name!r} SchemeBlock called as block(x) drops the step state (multistep history, "
        f"velocity) it returns: {effect}; put the blocks in an odenets.SchemeStage, or thread "
        "the state yourself with `y, state = block.step(x, state)`"
    )


def _static(*tensors: Tensor | None) -> None:
    """Under ``torch.compile``: specialize the compiled step on these tensors' shapes.

    The code of a block is shared by all blocks, so a frame compiled around a graph break
    (the noise draw) sees the shapes of every stage; left alone, dynamo would then make them
    dynamic, which is slower and trips inductor (dynamic batch-norm backward at stride 2,
    ``Cannot convert expression to float``). One static graph per shape instead.
    """
    for t in tensors:
        if t is not None:
            torch._dynamo.mark_static(t)


@torch.compiler.disable
def _draw(noise: NoiseModel, like: Tensor, h: float, generator: torch.Generator):
    """The random part of a noisy training step: the increment ``ΔW`` drawn from
    ``generator`` and the rows it changes (``None``: all of them), a tensor of indices.

    Always run eagerly, also inside ``torch.compile`` (one graph break per noisy block and
    training forward): a ``torch.Generator`` cannot be traced, and the decision which samples
    (or, with one gate per batch, whether the block) to evaluate is data-dependent Python
    control flow, taken here once so that the compiled step around it has none.
    """
    raw, dw = noise.sample(like, h, generator)
    rows = None if dw is None else noise.kept_rows(raw)
    return dw, (None if rows is None else rows.to(like.device))


def _bad_output(block, slot, out, y, want=None) -> Exception:
    what = block.fields[block._index[slot]].__class__.__name__
    if not isinstance(out, Tensor):
        return TypeError(
            f"field {slot} ({what}) of a {block.scheme.name!r} block must return a tensor, got "
            f"{type(out).__name__}"
        )
    return ValueError(
        f"field {slot} ({what}) of a {block.scheme.name!r} block must return shape {want} "
        f"(the shape of the rate it gives), got {tuple(out.shape)}"
    )


class Transition(SchemeBlock):
    """The resolution-changing block between network stages: one step of ``scheme`` taken
    from the projected input ``P(x)``, whose start-point slots read ``x`` itself.

    For Euler it is ``y = P(x) + h F(x)`` (``F`` strided); for a multistep scheme the same
    Euler step, which returns the history ``(P(x), F(x))`` the stage continues from (as in the
    LM-ResNet reference code); for ``coupled_euler`` RevNet's downsampling unit
    ``y1 = P(x1) + h F(x2), y2 = P(x2) + h G(y1)``; with noise an Euler–Maruyama step from
    ``P(x)``. Takes the same keyword arguments as :class:`SchemeBlock`.
    """

    def __init__(
        self,
        scheme: str | Scheme,
        fields: nn.Module | Sequence[nn.Module],
        shortcut: nn.Module,
        h: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(shortcut, nn.Module):
            raise TypeError(f"a Transition needs a shortcut module, got {type(shortcut).__name__}")
        super().__init__(scheme, fields, h, shortcut=shortcut, **kwargs)


def StochasticBlock(
    scheme: str | Scheme,
    fields: Sequence[nn.Module],
    noise: str | NoiseModel,
    h: float = 1.0,
    *,
    source: NoiseSource,
    learn: bool | None = None,
    coefficients: Mapping[str, Any] | None = None,
) -> SchemeBlock:
    """A noisy :class:`SchemeBlock`: ``SchemeBlock(scheme, fields, h, noise=noise,
    source=source, ...)``. With ``euler_maruyama`` it is shake-shake / stochastic depth / noise
    injection as an Euler–Maruyama step (Lu et al. 2018, §3.1); with ``lm`` the stochastic
    LM-ResNet (§3.2)."""
    return SchemeBlock(
        scheme, fields, h, learn=learn, coefficients=coefficients, noise=noise, source=source
    )
