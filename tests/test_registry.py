"""Registry metadata, tableau validation properties, and odeint's shape contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import odenets as on
import odenets.networks
import odenets.numerics
from odenets.numerics.tableau import ButcherTableau

DESIGN_TABLE = ["euler", "midpoint", "heun", "ralston", "heun3", "rk4", "rk38", "ab2", "lm"]


def test_registry_holds_the_design_table():
    assert set(DESIGN_TABLE) <= set(on.list_schemes())
    assert on.list_schemes() == sorted(on.list_schemes())


@pytest.mark.parametrize("name", on.list_schemes())
def test_scheme_metadata_is_complete(name):
    s = on.get_scheme(name)
    assert s.name == name and s.family in on.list_families()
    assert s.order > 0 and s.stages >= 1 and s.architecture and s.reference
    assert s.capabilities is on.get_family(s.family)


@pytest.mark.parametrize(
    "name", on.list_schemes(where=lambda f: f.explicit and f.tableau is ButcherTableau)
)
def test_explicit_tableaux_are_explicit(name):
    tableau = on.get_scheme(name).tableau
    assert tableau.explicit and not tableau.implicit


rows = st.lists(st.floats(-2, 2, allow_nan=False), min_size=3, max_size=3)


@settings(max_examples=50, deadline=None)
@given(
    a=st.lists(rows, min_size=3, max_size=3), w=st.lists(st.floats(0.1, 2), min_size=3, max_size=3)
)
def test_any_consistent_tableau_is_accepted_and_any_drift_rejected(a, w):
    a = np.tril(np.array(a), -1)
    b = np.array(w) / np.sum(w)
    c = a.sum(1)
    tableau = ButcherTableau(a=a.tolist(), b=b.tolist(), c=c.tolist())
    assert tableau.explicit and tableau.stages == 3
    with pytest.raises(ValueError, match="row sum"):
        ButcherTableau(a=a.tolist(), b=b.tolist(), c=(c + np.array([0, 0, 1e-6])).tolist())


@settings(max_examples=25, deadline=None)
@given(
    shape=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    n=st.integers(1, 5),
    scheme=st.sampled_from(DESIGN_TABLE),
    double=st.booleans(),
)
def test_odeint_output_shape_and_initial_value(shape, n, scheme, double):
    dtype = torch.float64 if double else torch.float32
    y0 = torch.randn(tuple(shape), dtype=dtype)
    out = on.odeint(lambda t, y: torch.cos(t) - y, y0, torch.linspace(0, 1, n), scheme)
    assert out.shape == (n, *shape) and out.dtype == dtype
    assert torch.equal(out[0], y0)


def test_register_a_new_scheme_and_use_it_everywhere():
    """A new scheme is one register_scheme call; odeint and SolverNet pick it up."""
    name = "test_generic_rk2"
    if name not in on.list_schemes():
        alpha = 0.75
        tableau = ButcherTableau(
            a=[[], [alpha]], b=[1 - 1 / (2 * alpha), 1 / (2 * alpha)], c=[0, alpha]
        )
        on.register_scheme(on.Scheme(name, "explicit_rk", 2, 2, "two-stage block", "test", tableau))
    try:
        t = torch.linspace(0, 1, 11, dtype=torch.float64)
        ref = on.odeint(lambda t, y: -y, torch.ones(1, dtype=torch.float64), t, "ralston")
        out = on.odeint(lambda t, y: -y, torch.ones(1, dtype=torch.float64), t, name)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=0)  # same order, close values
        net = on.SolverNet(name, depth=8)
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    finally:
        on.numerics.schemes.unregister_scheme(name)
    assert name not in on.list_schemes()


def test_duplicate_scheme_needs_an_explicit_replace():
    euler = on.get_scheme("euler")
    with pytest.raises(ValueError, match="replace=True"):
        on.register_scheme(euler)
    assert on.register_scheme(euler, replace=True) is euler
    assert on.get_scheme("euler") is euler
