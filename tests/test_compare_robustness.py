"""Re-discretizing a trained net (odenets.workflow.robustness) and timing side by side
(odenets.workflow.cost)."""

from __future__ import annotations

import statistics
from dataclasses import replace

import pytest
import torch

import odenets as on
from odenets.workflow.cost import measure_costs
from odenets.workflow.data import load_dataset
from odenets.workflow.robustness import evaluate_robustness, scale_steps, step_sizes
from odenets.workflow.train import evaluate

KW = {"depth": 14, "widths": (4, 8, 8), "in_channels": 1, "num_classes": 10}


def _trained_like(net: torch.nn.Module) -> torch.nn.Module:
    """Give the zero-initialized last layers of every residual branch nonzero weights, so that
    the step size changes the output, and BN non-trivial running statistics."""
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    net.train()
    net(torch.randn(32, 1, 8, 8))
    return net.eval()


@pytest.mark.parametrize("scheme", ["euler", "heun", "lm", "rk4", "ab2"])
@pytest.mark.parametrize("factor", [0.5, 1.5])
def test_scaled_view_is_the_net_built_with_the_scaled_h(scheme, factor):
    net = _trained_like(on.SolverNet(scheme, **KW))
    oracle = on.SolverNet(scheme, h=factor, **KW).eval()
    oracle.load_state_dict(net.state_dict())
    x = torch.randn(5, 1, 8, 8)
    before = net(x)
    view = scale_steps(net, factor).eval()
    torch.testing.assert_close(view(x), oracle(x), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(view(x), before)  # h matters for these weights
    torch.testing.assert_close(net(x), before, rtol=0, atol=0)  # the net is untouched
    assert set(step_sizes(net)) == {1.0} and set(step_sizes(view)) == {factor}


def test_scaled_view_shares_parameters_and_buffers():
    net = _trained_like(on.SolverNet("lm", **KW))
    view = scale_steps(net, 2.0)
    for (name, a), (_, b) in zip(
        net.state_dict(keep_vars=True).items(),
        view.state_dict(keep_vars=True).items(),
        strict=True,
    ):
        assert a is b, name
    view.train()
    assert not net.training  # the mode is the view's own


def test_scaled_view_of_a_tied_net_and_bad_input():
    net = _trained_like(on.SolverNet("heun", tie="all", **KW))
    oracle = on.SolverNet("heun", tie="all", h=0.75, **KW).eval()
    oracle.load_state_dict(net.state_dict())
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(scale_steps(net, 0.75)(x), oracle(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="> 0"):
        scale_steps(net, 0.0)
    with pytest.raises(ValueError, match="no step sizes"):
        scale_steps(torch.nn.Linear(2, 2), 2.0)
    with pytest.raises(TypeError, match="nn.Module"):
        scale_steps("net", 2.0)


@pytest.fixture(scope="module")
def digits():
    ds = load_dataset("digits", seed=0)
    return replace(ds, x_test=ds.x_test[:120], y_test=ds.y_test[:120])


def test_evaluate_robustness_rows(digits):
    net = _trained_like(on.SolverNet("euler", **KW))
    rows = evaluate_robustness(net, digits, factors=(1.0, 2.0), steps=(1, 3))
    assert [r["kind"] for r in rows] == ["h_scale", "h_scale"]  # untied: no re-timing
    assert rows[0]["test_accuracy"] == pytest.approx(evaluate(net, digits)["accuracy"])
    assert rows[1]["test_accuracy"] == pytest.approx(
        evaluate(scale_steps(net, 2.0), digits)["accuracy"]
    )
    assert rows[0]["f_evals"] == rows[1]["f_evals"] == 6


def test_evaluate_robustness_retimes_tied_nets(digits):
    net = _trained_like(on.SolverNet("euler", tie="all", **KW))
    rows = evaluate_robustness(net, digits, factors=(0.5,), steps=(1, 3))
    retimed = [r for r in rows if r["kind"] == "steps"]
    assert [r["steps"] for r in retimed] == [1, 3]
    # 2 transitions + (steps per stage) x (3 stages) Euler evaluations
    assert [r["f_evals"] for r in retimed] == [2 + 3, 2 + 9]
    assert retimed[1]["test_accuracy"] == pytest.approx(
        evaluate(net.retimed(steps=3), digits)["accuracy"]
    )


def test_measure_costs_times_fresh_models_interleaved():
    built = []

    def builder(width):
        def build():
            model = on.SolverNet("euler", depth=8, widths=(width, width, width), in_channels=1)
            built.append(model)
            return model

        return build

    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 10, (8,))
    rows = measure_costs([builder(4), builder(8)], (x, y), torch.randn(16, 1, 8, 8), repeats=3)
    assert len(built) == 2 and len(rows) == 2
    for r in rows:
        assert len(r["train_step_ms_runs"]) == len(r["inference_ms_runs"]) == 3
        assert r["train_step_ms"] > 0 and r["inference_ms"] > 0
        assert r["train_step_ms"] == pytest.approx(
            statistics.median(r["train_step_ms_runs"]), abs=1e-3
        )
    with pytest.raises(ValueError, match=">= 1"):
        measure_costs([builder(4)], (x, y), x, repeats=0)
