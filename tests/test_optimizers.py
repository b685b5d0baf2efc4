"""Optimizers as integrators: the table and its defaults, heavy ball = the ``lm`` scheme
(exactly, in float64), Nesterov's two-step form, Adam's sign-like first step, and the
trainer's ``optimizer`` field (defaults recorded, resume refuses another optimizer)."""

from __future__ import annotations

import pytest
import torch

import odenets as on
from odenets import unfold
from odenets.workflow.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from odenets.workflow.cli import main
from odenets.workflow.data import Dataset, load_dataset
from odenets.workflow.optimizers import (
    OPTIMIZERS,
    build_optimizer,
    list_optimizers,
    resolve_defaults,
)
from odenets.workflow.train import RUN_FIELDS, TrainConfig, train

#: The documented defaults (docs/optimizers.md), written out by hand:
#: name -> (class, lr, momentum option, weight decay, other options)
DOCUMENTED = {
    "sgd": (torch.optim.SGD, 0.1, {"momentum": 0.0, "nesterov": False}, 1e-4),
    "momentum": (torch.optim.SGD, 0.1, {"momentum": 0.9, "nesterov": False}, 1e-4),
    "nesterov": (torch.optim.SGD, 0.1, {"momentum": 0.9, "nesterov": True}, 1e-4),
    "adagrad": (torch.optim.Adagrad, 1e-2, {}, 0.0),
    "rmsprop": (torch.optim.RMSprop, 1e-3, {"momentum": 0.0}, 0.0),
    "adam": (torch.optim.Adam, 1e-3, {"betas": (0.9, 0.999), "amsgrad": False}, 0.0),
    "amsgrad": (torch.optim.Adam, 1e-3, {"betas": (0.9, 0.999), "amsgrad": True}, 0.0),
    "adamw": (torch.optim.AdamW, 1e-3, {"betas": (0.9, 0.999), "amsgrad": False}, 1e-2),
}


def test_the_table_is_the_documented_one():
    assert list_optimizers() == list(DOCUMENTED) == list(OPTIMIZERS)


@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_every_optimizer_builds_with_its_documented_defaults(name):
    cls, lr, options, wd = DOCUMENTED[name]
    p = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer(name, [p])
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == lr and group["weight_decay"] == wd
    for key, value in options.items():
        assert group[key] == value, key
    p.grad = torch.ones(3)
    opt.step()  # it is a working optimizer
    assert torch.all(p < 1)


def test_given_values_override_the_defaults():
    p = torch.nn.Parameter(torch.ones(2))
    group = build_optimizer("adam", [p], lr=0.02, momentum=0.5, weight_decay=0.1).param_groups[0]
    assert group["lr"] == 0.02 and group["betas"] == (0.5, 0.999) and group["weight_decay"] == 0.1
    group = build_optimizer("momentum", [p], momentum=0.0, nesterov=False).param_groups[0]
    assert group["momentum"] == 0.0
    group = build_optimizer("momentum", [p], nesterov=True).param_groups[0]
    assert group["nesterov"] is True and group["momentum"] == 0.9


def test_unknown_and_impossible_settings_are_clear_errors():
    p = [torch.nn.Parameter(torch.ones(2))]
    with pytest.raises(ValueError, match="unknown optimizer 'adma'; did you mean 'adam'"):
        build_optimizer("adma", p)
    with pytest.raises(TypeError, match="optimizer must be a name"):
        build_optimizer(torch.optim.SGD, p)
    with pytest.raises(ValueError, match="'sgd' takes no momentum"):
        build_optimizer("sgd", p, momentum=0.9)
    with pytest.raises(ValueError, match="'adagrad' takes no momentum"):
        resolve_defaults("adagrad", momentum=0.5)
    with pytest.raises(ValueError, match="look-ahead form of SGD momentum"):
        build_optimizer("adam", p, nesterov=True)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum > 0"):
        build_optimizer("nesterov", p, momentum=0.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        build_optimizer("momentum", p, momentum=1.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        build_optimizer("adam", p, lr=0.0)


# ---------------------------------------------------------------- the ODE readings, exactly


def _quadratic(n=5):
    g = torch.Generator().manual_seed(3)
    Q = torch.randn(n, n, generator=g, dtype=torch.float64)
    A = Q @ Q.T / n + 0.5 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, generator=g, dtype=torch.float64)
    x0 = torch.randn(n, generator=g, dtype=torch.float64)
    return A, b, x0


def _torch_trajectory(A, b, x0, steps, **options):
    """``steps`` iterations of ``torch.optim.SGD(**options)`` on f = x^T A x / 2 - b^T x,
    with the gradient from autograd."""
    x = torch.nn.Parameter(x0.clone())
    opt = torch.optim.SGD([x], **options)
    xs = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        (0.5 * x @ A @ x - b @ x).backward()
        opt.step()
        xs.append(x.detach().clone())
    return torch.stack(xs)


@pytest.mark.parametrize("beta", [0.5, 0.9])
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_dampened_sgd_momentum_is_odeint_lm_on_the_gradient_flow(beta, wd):
    """SGD(lr=h, momentum=beta, dampening=beta) == odeint(-grad f, lm, k=-beta, step h), from
    the Euler start on; weight decay is the gradient of f + wd |x|^2 / 2."""
    A, b, x0 = _quadratic()
    h, steps = 0.05, 15
    ours = _torch_trajectory(A, b, x0, steps, lr=h, momentum=beta, dampening=beta, weight_decay=wd)
    H = A + wd * torch.eye(len(b), dtype=A.dtype)
    grid = h * torch.arange(steps + 1, dtype=torch.float64)
    ode = on.odeint(lambda t, y: -(y @ H - b), x0, grid, "lm", coefficients={"k": -beta})
    assert torch.allclose(ours, ode, rtol=0, atol=1e-13)
    assert (ours[-1] - ours[0]).abs().max() > 0.1  # it moved


@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_torch_sgd_momentum_is_the_unfolded_heavy_ball(beta):
    """torch's undampened SGD(lr=alpha, momentum=beta) is x_{t+1} = x_t - alpha grad f +
    beta (x_t - x_{t-1}): the unfolded lm solver with h_0 = alpha (its Euler start) and
    h_t = alpha / (1 - beta), k = -beta."""
    A, b, x0 = _quadratic()
    alpha, steps = 0.05, 15
    ours = _torch_trajectory(A, b, x0, steps, lr=alpha, momentum=beta)
    solver = unfold.UnfoldedSolver(
        unfold.Quadratic(A),
        steps=steps,
        scheme="lm",
        learn=(),
        init={"h": [alpha] + [alpha / (1 - beta)] * (steps - 1), "momentum": beta},
    )
    unfolded = solver(b[None], x0=x0[None], trajectory=True)[:, 0]
    assert torch.allclose(ours, unfolded, rtol=0, atol=1e-13)
    # ... and the heavy-ball recursion written out by hand
    xs = [x0, x0 - alpha * (x0 @ A - b)]
    for _ in range(steps - 1):
        xs.append(xs[-1] - alpha * (xs[-1] @ A - b) + beta * (xs[-1] - xs[-2]))
    assert torch.allclose(ours, torch.stack(xs), rtol=0, atol=1e-13)


def test_torch_nesterov_is_a_two_step_scheme_with_a_gradient_correction():
    """SGD(nesterov=True): x_{t+1} = x_t + beta (x_t - x_{t-1}) - alpha ((1+beta) g_t -
    beta g_{t-1}) with g = grad f and g_{-1} = 0, x_{-1} = x_0."""
    A, b, x0 = _quadratic()
    alpha, beta, steps = 0.05, 0.9, 15
    ours = _torch_trajectory(A, b, x0, steps, lr=alpha, momentum=beta, nesterov=True)
    xs, prev, g_prev = [x0], x0, torch.zeros_like(x0)
    for _ in range(steps):
        x = xs[-1]
        g = x @ A - b
        xs.append(x + beta * (x - prev) - alpha * ((1 + beta) * g - beta * g_prev))
        prev, g_prev = x, g
    assert torch.allclose(ours, torch.stack(xs), rtol=0, atol=1e-13)


def test_adams_first_step_is_a_sign_step():
    """With bias correction, Adam's first step is -lr g / (|g| + eps): lr times the sign."""
    g = torch.tensor([3.0, -1e-3, 20.0], dtype=torch.float64)
    x = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = build_optimizer("adam", [x], lr=0.01)
    x.grad = g.clone()
    opt.step()
    assert torch.allclose(x.detach(), -0.01 * g / (g.abs() + 1e-8), rtol=1e-12)
    assert torch.allclose(x.detach(), -0.01 * g.sign(), rtol=1e-4)


# ------------------------------------------------------------------------------ the trainer


@pytest.fixture(scope="module")
def small():
    d = load_dataset("digits")
    return Dataset(
        **{
            **d.__dict__,
            "x_train": d.x_train[:128],
            "y_train": d.y_train[:128],
            "x_test": d.x_test[:50],
            "y_test": d.y_test[:50],
        }
    )


def _config(out, **kw):
    base = {
        "model": None,
        "model_args": {"scheme": "euler", "depth": 8, "widths": [4, 8, 8]},
        "epochs": 1,
        "batch_size": 32,
        "out": str(out),
        "progress": False,
    }
    return TrainConfig(**{**base, **kw})


def test_default_recipe_is_unchanged():
    c = TrainConfig().resolved()
    assert (c.optimizer, c.lr, c.momentum, c.weight_decay, c.nesterov) == (
        "momentum", 0.1, 0.9, 1e-4, False,
    )  # fmt: skip
    assert "optimizer" in RUN_FIELDS


def test_optimizer_defaults_are_recorded_in_the_run_config(small, tmp_path):
    train(_config(tmp_path, optimizer="adam"), dataset=small)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    saved = ckpt["config"]
    assert (saved["optimizer"], saved["lr"], saved["momentum"], saved["weight_decay"]) == (
        "adam", 1e-3, 0.9, 0.0,
    )  # fmt: skip
    assert ckpt["metrics"][0]["lr"] == 1e-3  # the rate it trained with
    assert "exp_avg_sq" in next(iter(ckpt["optimizer"]["state"].values()))  # Adam's state


def test_resume_refuses_another_optimizer(small, tmp_path):
    train(_config(tmp_path, optimizer="adam"), dataset=small)
    with pytest.raises(CheckpointError, match="optimizer='adam'.*optimizer='amsgrad'"):
        train(_config(tmp_path, optimizer="amsgrad", epochs=2, resume=True), dataset=small)
    result = train(_config(tmp_path, optimizer="adam", epochs=2, resume=True), dataset=small)
    assert len(result.history) == 2


def test_a_checkpoint_from_before_the_table_resumes_as_sgd_momentum(small, tmp_path):
    train(_config(tmp_path), dataset=small)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    del ckpt["config"]["optimizer"]  # what older versions wrote
    save_checkpoint({k: v for k, v in ckpt.items() if k != "format"}, tmp_path / "last.pt")
    with pytest.raises(CheckpointError, match="optimizer='momentum'.*optimizer='adam'"):
        train(_config(tmp_path, optimizer="adam", epochs=2, resume=True), dataset=small)
    assert len(train(_config(tmp_path, epochs=2, resume=True), dataset=small).history) == 2


def test_train_cli_unknown_optimizer_is_one_line(capsys):
    assert main(["train", "--optimizer", "adma", "--epochs", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "did you mean 'adam'" in err
