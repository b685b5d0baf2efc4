"""The ridge reproduction's two recipes (Wadayama's notebook and odenets'): the book's data
distribution and parameter sharing are what they claim, Adam's settings and the alternating
update match a hand-written loop, both recipes train and beat plain GD, options validate."""

import dataclasses
import math

import pytest
import torch

from odenets import unfold
from odenets.unfold import experiments
from odenets.unfold.experiments import RIDGE_RECIPES, RidgeRecipe, ridge_recipe

# the book's instance size (A 100 x 50), cut down in depth and training
SHORT = {"steps": 12, "eval_batch": 200}


def _ridge(seed=0, m=6, n=3):
    gen = torch.Generator().manual_seed(seed)
    return unfold.RidgeRegression(torch.randn(m, n, generator=gen, dtype=torch.float64), 3.0)


def _cov(z):
    z = z - z.mean(0)
    return z.T @ z / (z.shape[0] - 1)


def test_gaussian_data_have_identity_covariance_and_signal_data_do_not():
    problem = _ridge()
    A, N = problem.A, 20000
    gen = torch.Generator().manual_seed(1)
    book = problem.sample(N, generator=gen, data="gaussian")
    ours = problem.sample(N, generator=gen, data="signal")
    tol = 6 / math.sqrt(N)  # a few standard errors of a sample covariance entry
    assert book.y.shape == (N, 6)
    torch.testing.assert_close(_cov(book.y), torch.eye(6, dtype=torch.float64), rtol=0, atol=tol)
    gram = A.T @ A
    # Cov(A^T y) = A^T A for y ~ N(0, I), but (A^T A)^2 for y = A x
    for batch, expected in ((book, gram), (ours, gram @ gram)):
        rel = (_cov(batch.y @ A) - expected).norm() / expected.norm()
        assert rel < 3 * tol
    assert (gram @ gram - gram).norm() / gram.norm() > 1  # the two really differ
    # the targets are the exact ridge minimisers of the drawn data
    for batch in (book, ours):
        torch.testing.assert_close(batch.target, problem.solution(batch.y))


def test_book_recipe_is_the_notebooks_set_up():
    """The fields of the book's recipe are the numbers of Chapter_3/DU-GD-Ridge.ipynb."""
    book = RIDGE_RECIPES["book"]
    assert (book.n, book.m, book.steps, book.batch, book.lam) == (50, 100, 50, 100, 3.0)
    assert (book.inner_steps, book.final_steps) == (50, 0)
    assert (book.lr, book.lr_lam, book.eps) == (1e-4, 1e-2, 1e-8)
    assert (book.reset, book.update, book.data) == (False, "alternating", "gaussian")
    assert (book.period, book.lam_period, book.init_step) == (4, None, 0.0)
    ours = RIDGE_RECIPES["odenets"]
    assert (ours.data, ours.lam_period, ours.eps, ours.reset) == ("signal", 4, 1e-30, True)


def test_parameter_sharing_per_quantity():
    problem = _ridge(m=8, n=4)
    book = unfold.UnfoldedSolver(
        problem, 50, period={"h": 4}, learn=("h", "lam"), init={"h": 0.0}
    )  # the book: eta of period 4 (its other 46 entries never enter), xi per iteration
    assert book.h.shape == (4,) and book.lam.shape == (50,)
    assert sum(p.numel() for p in book.parameters()) == 54
    assert [book.slot(t) for t in (0, 5, 49)] == [0, 1, 1]
    assert [book.slot(t, "lam") for t in (0, 5, 49)] == [0, 5, 49]
    ours = unfold.UnfoldedSolver(problem, 50, period=4, learn=("h", "lam"))
    assert sum(p.numel() for p in ours.parameters()) == 8
    # per-iteration xi: the gradient of xi_t is that of iteration t alone
    batch = problem.sample(3, generator=torch.Generator().manual_seed(0), data="gaussian")
    with torch.no_grad():
        book.h.fill_(0.02)
    unfold.mse(book(batch.y, iterations=6), batch.target).backward()
    g = book.lam.grad
    assert g[0] == 0  # x_0 = 0: xi_0 multiplies zero
    assert (g[1:6] != 0).all() and (g[6:] == 0).all()  # iterations not unrolled: no gradient


def _adam(x, g, state, lr, eps, beta=(0.9, 0.999)):
    """Flux's ADAM (and torch's) written out: bias-corrected moments, eps outside the root."""
    m, v, t = state.get("m", 0 * x), state.get("v", 0 * x), state.get("t", 0) + 1
    m, v = beta[0] * m + (1 - beta[0]) * g, beta[1] * v + (1 - beta[1]) * g * g
    state.update(m=m, v=v, t=t)
    return x - lr * (m / (1 - beta[0] ** t)) / ((v / (1 - beta[1] ** t)).sqrt() + eps)


@pytest.mark.parametrize("reset", [False, True])
def test_alternating_updates_and_kept_adam_match_a_hand_written_loop(reset):
    problem = _ridge(2, m=8, n=4)
    batches = [
        problem.sample(5, generator=torch.Generator().manual_seed(i), data="gaussian")
        for i in range(6)
    ]
    solver = unfold.UnfoldedSolver(problem, 3, period={"h": 2}, learn=("h", "lam"), init={"h": 0.0})
    it = iter(batches)
    unfold.train_incremental(
        solver, lambda: next(it), 2, 1e-3, lr_lam=1e-2, eps=1e-8, reset=reset,
        update="alternating",
    )  # fmt: skip

    ref = unfold.UnfoldedSolver(problem, 3, period={"h": 2}, learn=("h", "lam"), init={"h": 0.0})
    h, lam = ref.h.detach().clone(), ref.lam.detach().clone()
    sh, sl = {}, {}

    def loss(h, lam, b, t):
        with torch.no_grad():
            ref.h.copy_(h)
            ref.lam.copy_(lam)
        ref.zero_grad()
        unfold.mse(ref(b.y, iterations=t), b.target).backward()
        return ref.h.grad.clone(), ref.lam.grad.clone()

    it = iter(batches)
    for t in (1, 2, 3):  # generations
        if reset:
            sh, sl = {}, {}
        for _ in range(2):
            b = next(it)
            h = _adam(h, loss(h, lam, b, t)[0], sh, 1e-3, 1e-8)  # first the steps ...
            lam = _adam(lam, loss(h, lam, b, t)[1], sl, 1e-2, 1e-8)  # ... then xi, same batch
    torch.testing.assert_close(solver.h.detach(), h, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(solver.lam.detach(), lam, rtol=1e-12, atol=1e-15)
    # xi_0 never gets a gradient (x_0 = 0), as in the book's run
    assert float(solver.lam.detach()[0]) == 3.0


def test_kept_adam_differs_from_reset_adam():
    problem = _ridge(3, m=8, n=4)
    out = []
    for reset in (True, False):
        gen = torch.Generator().manual_seed(0)
        solver = unfold.UnfoldedSolver(problem, 3, init={"h": 0.01})
        unfold.train_incremental(
            solver, lambda g=gen: problem.sample(5, generator=g), 3, 1e-3, reset=reset
        )
        out.append(solver.h.detach())
    assert not torch.allclose(out[0], out[1])


@pytest.mark.parametrize("name", ["book", "odenets"])
def test_both_recipes_train_and_beat_plain_gd(name):
    # the book's steps start at 0 and move ~lr = 1e-4 per Adam step: they need ~70 steps to
    # reach 2 / (lmin + lmax) = 0.0071, so it gets 30 mini-batches per generation here
    kw = {"inner_steps": 30} if name == "book" else {"inner_steps": 15, "final_steps": 50}
    r = experiments.ridge_experiment(name, **SHORT, **kw)
    mse = {k: v[-1] for k, v in r["mse"].items()}
    assert r["recipe"]["name"] == name
    assert r["recipe"]["data"] == RIDGE_RECIPES[name].data
    assert mse["du_gd"] < mse["constant"] / 2
    assert mse["du_gd_lam"] < mse["constant"] / 2
    steps = SHORT["steps"]
    assert r["parameters"] == {"du_gd": 4, "du_gd_lam": 4 + (steps if name == "book" else 4)}
    lam = r["lam_values"]
    assert len(lam) == steps
    if name == "book":
        assert lam[0] == 3.0 and lam[1] != lam[5]  # per iteration; xi_0 untouched
    else:
        assert lam[1] == lam[5]  # period 4


def test_recipe_options_validate():
    with pytest.raises(ValueError, match="did you mean 'book'"):
        ridge_recipe("bok")
    with pytest.raises(TypeError, match="unexpected option.*'epsilon'"):
        ridge_recipe("book", epsilon=1e-8)
    with pytest.raises(ValueError, match="did you mean 'gaussian'"):
        ridge_recipe("odenets", data="gauss")
    with pytest.raises(ValueError, match="did you mean 'alternating'"):
        RidgeRecipe(update="alternate")
    with pytest.raises(ValueError, match="eps must be > 0"):
        RidgeRecipe(eps=0.0)
    with pytest.raises(TypeError, match="reset must be a bool"):
        RidgeRecipe(reset="no")
    with pytest.raises(ValueError, match="lam_period must be <= steps"):
        RidgeRecipe(steps=4, lam_period=5)
    mixed = ridge_recipe("odenets", data="gaussian", eps=1e-8)
    assert dataclasses.replace(RIDGE_RECIPES["odenets"], data="gaussian", eps=1e-8) == mixed
    problem = _ridge()
    solver = unfold.UnfoldedSolver(problem, 2)
    sample = lambda: problem.sample(2)  # noqa: E731
    with pytest.raises(ValueError, match="eps must be > 0"):
        unfold.train_incremental(solver, sample, 1, 1e-3, eps=-1.0)
    with pytest.raises(ValueError, match="did you mean 'joint'"):
        unfold.train_incremental(solver, sample, 1, 1e-3, update="join")
    with pytest.raises(TypeError, match="reset must be a bool"):
        unfold.train_incremental(solver, sample, 1, 1e-3, reset=1)
    with pytest.raises(ValueError, match="did you mean 'gaussian'"):
        problem.sample(2, data="gausian")
    with pytest.raises(ValueError, match="noise_std must be 0"):
        problem.sample(2, data="gaussian", noise_std=0.1)
    with pytest.raises(ValueError, match="noise_std must be >= 0"):
        problem.sample(2, noise_std=-1.0)
