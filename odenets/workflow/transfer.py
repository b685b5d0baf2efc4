"""Scheme transfer as an experiment: test accuracy of a weight-tied net re-timed with other
schemes and step counts (Queiruga et al. 2020). The re-timed views themselves are
:func:`odenets.networks.retime.retime`.
"""

from __future__ import annotations

from collections.abc import Sequence

from .._validate import check_int
from ..networks.nets import SolverNet, count_field_calls
from ..networks.retime import check_tied, retime
from ..numerics.schemes import get_scheme
from .data import Dataset
from .train import evaluate

__all__ = ["transfer"]


def transfer(
    net: SolverNet,
    dataset: Dataset,
    schemes: Sequence[str],
    steps: Sequence[int],
    batch_size: int = 500,
) -> list[dict]:
    """Test accuracy of ``net`` re-timed with every scheme in ``schemes`` and every step count
    in ``steps`` (per stage). Rows: ``scheme, steps, f_evals, test_accuracy``."""
    check_tied(net)
    if not schemes or not steps:
        raise ValueError("transfer needs at least one scheme and one step count")
    targets = [get_scheme(s) for s in schemes]
    counts = [check_int("steps", n, 1) for n in steps]
    probe = dataset.prepare(dataset.x_test[:1])
    rows = []
    for scheme in targets:
        for m in counts:
            view = retime(net, scheme, m)
            result = evaluate(view, dataset, batch_size=batch_size)
            rows.append(
                {
                    "scheme": scheme.name,
                    "steps": m,
                    "f_evals": count_field_calls(view, probe),
                    "test_accuracy": result["accuracy"],
                }
            )
    return rows
