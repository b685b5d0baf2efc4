"""Training of unfolded solvers: incremental warm starts, the seed reproduction, a cut-down
ridge reproduction, heavy ball vs GD, NaN handling."""

import math

import pytest
import torch

from odenets import unfold
from odenets.unfold import experiments


def _ridge(seed=0, m=20, n=10):
    gen = torch.Generator().manual_seed(seed)
    problem = unfold.RidgeRegression(torch.randn(m, n, generator=gen, dtype=torch.float64), 3.0)
    return problem, (lambda: problem.sample(20, generator=gen))


def test_incremental_training_warm_starts_and_leaves_later_steps_alone():
    problem, sample = _ridge()
    solver = unfold.UnfoldedSolver(problem, 3, init={"h": 0.01})
    seen = []

    def recording_sample():
        seen.append(solver.h.detach().clone())
        return sample()

    hist = unfold.train_incremental(solver, recording_sample, 5, 1e-3)
    assert hist.iterations == [1, 2, 3] and [len(s) for s in hist.losses] == [5, 5, 5]
    stage1, stage2 = seen[:5], seen[5:10]
    # stage 1 trains only h_0; h_1, h_2 keep their initial value until unrolled
    assert all(float(h[1]) == 0.01 and float(h[2]) == 0.01 for h in stage1 + stage2[:1])
    assert float(stage2[0][0]) != 0.01  # h_0 was trained ...
    assert all(float(h[2]) == 0.01 for h in stage2)
    assert float(seen[-1][2]) != 0.01  # h_2 trains once the depth-3 network is unrolled


def test_warm_start_matches_training_stages_one_at_a_time():
    # training 1..3 incrementally == training depth 1, then 2, then 3, carrying parameters
    problem, _ = _ridge(1)
    batches = [problem.sample(20, generator=torch.Generator().manual_seed(i)) for i in range(9)]
    a = unfold.UnfoldedSolver(problem, 3, init={"h": 0.01})
    it = iter(batches)
    unfold.train_incremental(a, lambda: next(it), 3, 1e-3)
    b = unfold.UnfoldedSolver(problem, 3, init={"h": 0.01})
    it = iter(batches)
    for depth in (1, 2, 3):
        part = unfold.UnfoldedSolver(problem, depth, init={"h": b.h.detach()[:depth]})
        unfold.train_end_to_end(part, lambda: next(it), 3, 1e-3)
        with torch.no_grad():
            b.h[:depth] = part.h
    torch.testing.assert_close(a.h.detach(), b.h.detach())


def test_seed_reproduction():
    result = experiments.seed_experiment(inner_steps=100)
    assert result["plain_iterations"] == 24  # (1 - 2 * 0.1)^k * 2 < 1e-2  <=>  k >= 24
    assert abs(result["learned_steps"][0] - 0.5) < 0.02
    assert 1 <= result["unfolded_iterations"] <= 2


def test_cut_down_ridge_reproduction_reaches_chebyshev_level():
    r = experiments.ridge_experiment(
        n=10,
        m=20,
        steps=12,
        period=4,
        batch=50,
        inner_steps=30,
        final_steps=100,
        learn_lam=False,
        eval_batch=200,
    )
    mse = {k: v[12] for k, v in r["mse"].items()}
    assert mse["du_gd"] < mse["constant"] / 50
    assert mse["du_gd"] < 10 * mse["chebyshev"]
    assert r["t"][-1] == 12 and len(r["steps"]) == 12


def test_unfolded_heavy_ball_beats_unfolded_gd():
    r = experiments.quadratic_experiment(
        n=20, kappa=100.0, steps=10, batch=50, inner_steps=30, final_steps=100
    )
    assert r["kappa"] == pytest.approx(100.0)
    assert r["mse"]["du_hb"][-1] < r["mse"]["du_gd"][-1]
    assert r["mse"]["du_gd"][-1] < r["mse"]["constant"][-1]


def test_end_to_end_training_lowers_the_loss():
    problem, sample = _ridge(2)
    solver = unfold.UnfoldedSolver(problem, 6, period=2)
    hist = unfold.train_end_to_end(solver, sample, 60, 2e-3)
    assert hist.iterations == [6]
    assert sum(hist.losses[0][-5:]) < 0.5 * sum(hist.losses[0][:5])


def test_non_finite_loss_stops_and_keeps_the_last_good_parameters():
    problem, sample = _ridge(3)
    solver = unfold.UnfoldedSolver(problem, 300, period=1, init={"h": 0.02})
    with pytest.warns(RuntimeWarning, match="kept the last good"):
        hist = unfold.train_end_to_end(solver, sample, 50, 10.0)
    assert hist.stopped is not None
    assert all(math.isfinite(v) for stage in hist.losses for v in stage)
    assert torch.isfinite(solver.h).all()


def test_bad_training_input():
    problem, sample = _ridge()
    solver = unfold.UnfoldedSolver(problem, 2)
    with pytest.raises(ValueError, match="inner_steps must be >= 1"):
        unfold.train_incremental(solver, sample, 0, 1e-3)
    with pytest.raises(ValueError, match="lr must be > 0"):
        unfold.train_incremental(solver, sample, 1, -1.0)
    with pytest.raises(TypeError, match="callable"):
        unfold.train_incremental(solver, [1, 2], 1, 1e-3)
    with pytest.raises(TypeError, match="Batch"):
        unfold.train_incremental(solver, lambda: 3, 1, 1e-3)
    with pytest.raises(ValueError, match="nothing to learn"):
        unfold.train_incremental(unfold.UnfoldedSolver(problem, 2, learn=()), sample, 1, 1e-3)


def test_non_finite_loss_restores_the_parameters_that_gave_the_last_finite_loss():
    """The rollback keeps the parameters of the last finite loss, not those of the failed one."""
    problem, sample = _ridge()
    solver = unfold.UnfoldedSolver(problem, 2, init={"h": 0.01})
    used = []

    def sample_then_blow_up():
        used.append(solver.h.detach().clone())  # the parameters this loss will be taken at
        batch = sample()
        if len(used) == 3:
            return unfold.Batch(batch.y, torch.full_like(batch.target, math.inf))
        return batch

    with pytest.warns(RuntimeWarning, match="kept the last good parameters"):
        hist = unfold.train_incremental(solver, sample_then_blow_up, 5, 1e-2)
    assert hist.stopped
    assert not torch.equal(used[1], used[2])  # a step was taken after the last finite loss
    torch.testing.assert_close(solver.h.detach(), used[1], rtol=0, atol=0)
