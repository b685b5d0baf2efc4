"""Network stages: a transition followed by scheme steps at one resolution, and the one
builder every :class:`~odenets.SolverNet` uses — plain, stochastic, partitioned and reversible.

Everything the builder varies is read from the scheme's family capabilities:

* the transition takes one step of ``family.transition`` (``None``: the scheme itself) from
  the projected input, so a multistep stage continues from its Euler history, a coupled
  (RevNet) stage starts with a coupled downsampling unit, an SDE stage with a noisy one;
  with ``transition="after"`` it is instead one step of the scheme at the incoming width,
  then the shortcut (:class:`StepThenShortcut`: Chang et al.'s networks, no learned
  downsampling), after which the step state restarts;
* partitioned families split the channels: every slot gets a half-width field, a unit counts
  one field per slot towards the depth, and shortcuts project each half;
* a family whose fresh start is an Euler step (``euler_start``) keeps the coefficients of
  that step fixed (they would go unused), and its history restarts at every transition;
* ``tie`` means the same for every family: ``"none"`` one module per field slot (or noise
  branch) of every step, ``"stages"`` one module per step shared by its slots, ``"all"`` one
  module per network stage shared by every slot of every step. Transitions always have their
  own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from .._validate import check_choice
from ..numerics.schemes import Scheme, get_scheme
from .blocks import SchemeBlock, Transition
from .noise import NoiseModel, NoiseSource, get_noise
from .reversible import reversible_run
from .shortcuts import HalvesShortcut, make_shortcut

__all__ = [
    "TIES",
    "TRANSITIONS",
    "SchemeStage",
    "StepThenShortcut",
    "build_stages",
    "units_per_stage",
]

#: Weight tying (see the module docstring).
TIES = ("none", "stages", "all")
#: Transition kinds (see :func:`build_stages`): ``"step"`` — one step from the projected
#: input ``P(x)`` (ResNet, RevNet); ``"after"`` — one step at the incoming width and
#: resolution, then ``P`` (Chang et al. 2018: no learned downsampling unit).
TRANSITIONS = ("step", "after")


class StepThenShortcut(nn.Module):
    """A stage transition that takes one step of ``block`` at the incoming width and
    resolution and then maps the result with the shortcut ``P``: ``y = P(Phi_h(x))``.

    With a parameter-free ``P`` (average pooling and zero channels) the network has no
    learned downsampling unit: the Hamiltonian networks of Chang et al. (AAAI 2018), whose
    first unit of a stage runs at the previous width and is pooled and padded afterwards.
    The step's state does not survive the change of resolution: the next step starts fresh.
    """

    def __init__(self, block: SchemeBlock, shortcut: nn.Module) -> None:
        super().__init__()
        if not isinstance(block, SchemeBlock):
            raise TypeError(f"block must be a SchemeBlock, got {type(block).__name__}")
        if not isinstance(shortcut, nn.Module):
            raise TypeError(f"shortcut must be an nn.Module, got {type(shortcut).__name__}")
        self.block, self.shortcut = block, shortcut

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, None]:
        """``(P(Phi_h(x)), None)``."""
        y, _ = self.block.step(x, state)
        return self.shortcut(y), None

    def forward(self, x: Tensor) -> Tensor:
        return self.step(x)[0]


class SchemeStage(nn.Module):
    """An optional transition (a :class:`~odenets.Transition`, or a
    :class:`StepThenShortcut`) followed by scheme blocks at one resolution.

    Step state (multistep history, momentum velocity) is threaded from block to block and
    restarts here: after a transition it is whatever the transition's step returned (the Euler
    history of a multistep stage), without one the first block starts fresh.

    With ``reversible_backward=True`` (reversible blocks only) the blocks after the transition
    run through :func:`odenets.networks.reversible.reversible_run`: backward recomputes their
    activations from the stage output instead of storing them.
    """

    def __init__(
        self,
        blocks: Sequence[SchemeBlock],
        transition: SchemeBlock | StepThenShortcut | None = None,
        *,
        reversible_backward: bool = False,
    ):
        super().__init__()
        self.transition = transition
        self.blocks = nn.ModuleList(blocks)
        self.reversible_backward = bool(reversible_backward)
        if self.reversible_backward and not all(b.reversible for b in self.blocks):
            raise ValueError(
                "reversible_backward=True needs reversible blocks (an invertible scheme; a "
                "partitioned one with half-width fields [F, G] per block)"
            )

    def forward(self, x: Tensor) -> Tensor:
        state = None
        if self.transition is not None:
            x, state = self.transition.step(x, None)
        if self.reversible_backward:
            return reversible_run(self.blocks, x, state)
        for block in self.blocks:
            x, state = block.step(x, state)
        return x


def units_per_stage(scheme: Scheme, depth: int, stages: int, layers: int) -> int:
    """Residual units per network stage for a CIFAR-style ``depth`` (``per * n + 2``), or a
    ``ValueError`` listing the depths that fit."""
    scheme = get_scheme(scheme)
    family = scheme.capabilities
    fields = family.slot_count(scheme, scheme.options) if family.partitioned else 1
    per = stages * layers * fields
    if depth < per + 2 or (depth - 2) % per:
        fits = ", ".join(map(str, range(per + 2, 111, per)))
        raise ValueError(
            f"depth {depth} does not fit: with {stages} stages of fields of {layers} layers"
            + (f" and {fields} fields per {scheme.name} unit" if fields > 1 else "")
            + f", depth must be {per}n+2, e.g. {fits}"
        )
    return (depth - 2) // per


def build_stages(
    scheme: str | Scheme,
    widths: Sequence[int],
    units: int,
    make_field: Callable[[int, int, int], nn.Module],
    *,
    stride: int = 2,
    shortcut: str = "pad",
    spatial: int = 2,
    h: float = 1.0,
    tie: str = "none",
    learn: bool | None = None,
    coefficients: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
    noise: str | NoiseModel | None = None,
    source: NoiseSource | None = None,
    reversible_backward: bool | None = None,
    in_width: int | None = None,
    project: Callable[[], nn.Module] | None = None,
    transition: str = "step",
    project_steps: bool = True,
) -> list[SchemeStage]:
    """The stages of a network of ``scheme`` steps: ``len(widths)`` stages of ``units``
    residual units each (a transition plus ``units - 1`` steps after the first stage).

    Args:
        scheme: the scheme of every step.
        widths: channels of each stage.
        units: residual units per stage (see :func:`units_per_stage`).
        make_field: ``make_field(cin, cout, stride, slot) -> F``; ``slot`` is the field slot the
            module fills, ``None`` when it serves several (tied).
        stride: stride of the transitions (1 for vectors).
        shortcut: ``"pad"`` or ``"conv"``.
        spatial: spatial dimensions of the state (0 for vectors).
        h, tie, learn, coefficients, options: as for :class:`~odenets.SolverNet`.
        noise, source: a noise model for every unit (a schedule such as stochastic depth's
            runs over all ``len(widths) * units`` of them) and the random source they share.
        reversible_backward: run the blocks of each stage through the memory-saving backward
            (default: True for partitioned invertible families, i.e. RevNet-style nets).
        in_width: channels of the stage input (the stem's width); when it differs from
            ``widths[0]`` the first stage opens with a stride-1 transition that widens it
            (shake-shake's first stage, Gastaldi 2017).
        project: a factory of the map applied after every step (``nn.ReLU``: the
            post-activation ResNet, ``y = ReLU(x + F(x))``).
        transition: how a stage changes width and resolution, one of :data:`TRANSITIONS`:
            ``"step"`` — one step of ``family.transition`` from the projected input ``P(x)``,
            its start-point fields strided and reading ``x``; ``"after"`` — one step of the
            scheme at the incoming width and resolution, then ``P``
            (:class:`StepThenShortcut`; with ``shortcut="avgpool_pad"`` a parameter-free
            transition, as in Chang et al. 2018). Either way a stage holds ``units`` units.
        project_steps: apply ``project`` after the scheme steps too (False: after the
            transitions only — Momentum ResNets keep He et al.'s blocks at the transitions and
            un-projected momentum steps in between).
    """
    scheme = get_scheme(scheme)
    family = scheme.capabilities
    check_choice("transition", transition, TRANSITIONS)
    model = None if noise is None else get_noise(noise)
    _, resolved = scheme.resolve(None, options)
    if model is not None:
        slots = model.branches
    elif family.noise == "increment":
        slots = 1  # an SDE step reads its diffusion slot only with an increment: none drawn
    else:
        slots = family.slot_count(scheme, resolved)
    if model is not None and slots > 1 and tie != "none":
        raise ValueError(
            f"tie={tie!r} would share one module between the {slots} branches of "
            f"{model.name!r}, whose difference is the noise: the block would be deterministic; "
            "use tie='none'"
        )
    if family.partitioned and any(w % 2 for w in widths):
        raise ValueError(
            f"scheme {scheme.name!r} splits the channels into two halves, so every width must "
            f"be even, got widths {tuple(widths)}"
        )
    if reversible_backward is None:
        reversible_backward = family.partitioned and family.invertible and model is None
    build = _Builder(
        scheme,
        make_field,
        slots,
        h,
        {"learn": learn, "coefficients": coefficients, "options": options},
        iter(model.for_blocks(len(widths) * units)) if model is not None else None,
        source,
        project,
        project_steps,
    )
    inputs = [widths[0] if in_width is None else in_width, *widths[:-1]]
    stages = []
    for i, width in enumerate(widths):
        size = width // 2 if family.partitioned else width
        unit = None
        if i > 0 or inputs[0] != widths[0]:
            prev = inputs[i] // 2 if family.partitioned else inputs[i]
            down = stride if i else 1
            if transition == "after":
                unit = build.step_then_shortcut(prev, size, down, shortcut, spatial)
            else:
                unit = build.transition(prev, size, down, shortcut, spatial)
        shared = make_field(size, size, 1, None) if tie == "all" else None
        blocks = []
        for j in range(units - (unit is not None)):
            if tie == "all":
                fields: Any = shared
            elif tie == "stages" or slots == 1:
                fields = make_field(size, size, 1, None if slots > 1 else 0)
            else:
                fields = [make_field(size, size, 1, slot) for slot in range(slots)]
            if family.partitioned and isinstance(fields, nn.Module):  # one per slot, half-width
                fields = [fields] * slots
            # the state restarts after a transition whose step ran before the resolution change
            fresh = j == 0 and (unit is None or isinstance(unit, StepThenShortcut))
            blocks.append(build.block(SchemeBlock, scheme, fields, fresh=fresh))
        stages.append(SchemeStage(blocks, unit, reversible_backward=reversible_backward))
    return stages


class _Builder:
    """What every block of one network shares: the scheme, the field factory, the settings
    and the noise schedule, consumed unit by unit in network order."""

    def __init__(
        self, scheme, make_field, slots, h, settings, schedule, source, project, project_steps
    ):
        self.scheme, self.make_field, self.slots, self.h = scheme, make_field, slots, h
        self.settings, self.schedule, self.source = settings, schedule, source
        self.project, self.project_steps = project, project_steps

    def block(self, cls, scheme: Scheme, fields: Any, *, fresh: bool, **kwargs: Any):
        """A block of ``scheme``; ``fresh``: it starts with no state, where an Euler-start
        family leaves its coefficients unused (they stay fixed: no parameters)."""
        settings = dict(self.settings) if scheme is self.scheme else {}
        if scheme is self.scheme and self.schedule is not None:
            settings.update(noise=next(self.schedule), source=self.source)
        if fresh and scheme.capabilities.euler_start:
            settings.update(learn=False, coefficients=None)
        if self.project is not None and (self.project_steps or cls is Transition):
            settings["project"] = self.project()
        return cls(scheme, fields, h=self.h, **settings, **kwargs)

    def transition(self, prev: int, size: int, stride: int, shortcut: str, spatial: int):
        """The downsampling unit, one step of the family's transition scheme from the
        projected input: start-point slots read the unprojected input (strided fields), the
        others act in the new space."""
        scheme = get_scheme(self.scheme.capabilities.transition or self.scheme)
        family = scheme.capabilities
        if family.partitioned:
            count = family.slot_count(scheme, scheme.options)
            fields = [self.make_field(prev, size, stride, 0)] + [
                self.make_field(size, size, 1, slot) for slot in range(1, count)
            ]
            proj = HalvesShortcut(
                *(make_shortcut(shortcut, prev, size, stride, spatial) for _ in "uv")
            )
        else:
            count = self.slots if scheme is self.scheme else 1
            fields = [self.make_field(prev, size, stride, slot) for slot in range(count)]
            proj = make_shortcut(shortcut, prev, size, stride, spatial)
        fields = fields[0] if len(fields) == 1 else fields
        return self.block(Transition, scheme, fields, fresh=True, shortcut=proj)

    def step_then_shortcut(self, prev: int, size: int, stride: int, shortcut: str, spatial: int):
        """The ``"after"`` transition: a step of the scheme at the incoming width ``prev``
        (fields ``prev -> prev``, stride 1), then the shortcut to ``size`` at ``stride``."""
        family = self.scheme.capabilities
        if self.slots == 1:
            fields: Any = self.make_field(prev, prev, 1, 0)
        else:
            fields = [self.make_field(prev, prev, 1, slot) for slot in range(self.slots)]
        if family.partitioned and isinstance(fields, nn.Module):
            fields = [fields] * self.slots
        block = self.block(SchemeBlock, self.scheme, fields, fresh=True)
        if family.partitioned:
            proj: nn.Module = HalvesShortcut(
                *(make_shortcut(shortcut, prev, size, stride, spatial) for _ in "uv")
            )
        else:
            proj = make_shortcut(shortcut, prev, size, stride, spatial)
        return StepThenShortcut(block, proj)
