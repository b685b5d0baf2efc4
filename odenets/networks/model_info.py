"""``ModelInfo``: the per-preset record — what a named network is, where it comes from, and
how exactly it reads as a scheme.

Every preset registers one with :func:`odenets.register_model` and
:func:`odenets.model_info` returns it; ``docs/models.md`` is generated from them. The record
is plain data (strings, numbers, tuples), so it deep-copies and pickles, and it is attached to
every model :func:`odenets.create_model` builds (``model.model_info``, and as a plain dict
``model.pretrained_cfg``, timm's name).

How a block reads as a scheme (``block``):

* ``"exact"``: the block is exactly one step of ``scheme`` (``x + F(x)`` is an Euler step);
* ``"projected"``: one step of ``scheme`` followed by a fixed map (``projection``), e.g.
  He et al.'s ``ReLU(x + F(x))``: the Euler step, then the projection onto the positive cone;
* ``"analogy"``: the block is not a step of ``scheme``; the scheme is the nearest numerical
  reading, and ``description`` says what differs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._validate import check_choice

__all__ = ["BLOCK_KINDS", "ModelInfo"]

#: How a preset's block relates to its scheme (see the module docstring).
BLOCK_KINDS = ("exact", "projected", "analogy")


@dataclass(frozen=True)
class ModelInfo:
    """The record of one preset.

    Args:
        name: the preset's registry name.
        description: one line for ``odenets list``.
        paper: the publication that defines the network (authors, venue, year).
        code: URL of the reference implementation the preset reproduces (``None``: none).
        params: trainable parameters of the reference network (of the paper's table when no
            code exists); the preset has exactly this many (tested). ``None`` when there is no
            reference count; ``params_note`` then says why.
        params_note: where ``params`` comes from (e.g. which reference module was counted),
            or why there is none.
        cifar10_error: CIFAR-10 test error in percent reported by ``paper`` (``None``: the
            paper reports none for this network; ``error_source`` says why).
        error_source: the table (or figure) of ``paper`` that reports ``cifar10_error``.
        scheme: the registry id of the scheme the blocks are steps of.
        block: one of :data:`BLOCK_KINDS`.
        projection: the map after the step when ``block == "projected"``.
        variant_of: the published preset this one changes to make the ODE reading exact
            (``None``: this is a published network itself).
        input_size: ``(channels, height, width)`` of the input the network was designed for.
        num_classes: classes of the reference network's head.
        weights: URL of the authors' published checkpoint (load it with
            :func:`odenets.networks.reference.load_reference_state_dict`); odenets itself
            publishes no weights.
    """

    name: str
    description: str
    paper: str = ""
    code: str | None = None
    params: int | None = None
    params_note: str = ""
    cifar10_error: float | None = None
    error_source: str = ""
    scheme: str | None = None
    block: str | None = None
    projection: str = ""
    variant_of: str | None = None
    input_size: tuple[int, ...] = (3, 32, 32)
    num_classes: int = 10
    weights: str | None = None

    def __post_init__(self) -> None:
        for key in ("name", "description", "paper", "params_note", "error_source", "projection"):
            value = getattr(self, key)
            if not isinstance(value, str):
                raise TypeError(f"ModelInfo {key} must be a str, got {type(value).__name__}")
        if not self.name.isidentifier():
            raise ValueError(f"ModelInfo name must be an identifier, got {self.name!r}")
        if "\n" in self.description:
            raise ValueError(f"ModelInfo {self.name!r}: description must be one line")
        if self.params is not None and (
            isinstance(self.params, bool) or not isinstance(self.params, int) or self.params < 1
        ):
            raise ValueError(
                f"ModelInfo {self.name!r}: params must be a positive int or None, "
                f"got {self.params!r}"
            )
        if self.params is None and not self.params_note:
            raise ValueError(
                f"ModelInfo {self.name!r}: without a reference parameter count, params_note "
                "must say why there is none"
            )
        if self.cifar10_error is not None:
            if not isinstance(self.cifar10_error, int | float) or not (
                0 < self.cifar10_error < 100
            ):
                raise ValueError(
                    f"ModelInfo {self.name!r}: cifar10_error is a percentage in (0, 100), "
                    f"got {self.cifar10_error!r}"
                )
            if not self.error_source:
                raise ValueError(
                    f"ModelInfo {self.name!r}: a reported error needs error_source (the table)"
                )
        if self.block is not None:
            check_choice(f"ModelInfo {self.name!r} block", self.block, BLOCK_KINDS)
        if self.block == "projected" and not self.projection:
            raise ValueError(f"ModelInfo {self.name!r}: a projected block must name its projection")
        size = tuple(self.input_size)
        if not size or not all(isinstance(v, int) and v > 0 for v in size):
            raise ValueError(
                f"ModelInfo {self.name!r}: input_size must be positive ints, got {size!r}"
            )
        object.__setattr__(self, "input_size", size)
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int):
            raise TypeError(f"ModelInfo {self.name!r}: num_classes must be an int")

    def as_dict(self) -> dict[str, Any]:
        """The record as a plain dict (timm's ``pretrained_cfg`` shape)."""
        return asdict(self)
