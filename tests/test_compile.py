"""``torch.compile`` (default mode, inductor) gives the eager outputs and gradients, in training
and evaluation, with no graph break but the noise draws of stochastic nets.

Compiling is expensive on a CPU, so the suite compiles one small network per kind of preset
(scheme family x noise model, derived from the registry, so a new family is covered
automatically); ``ODENETS_COMPILE_ALL=1`` also runs the full-size check of every preset (slow:
minutes per preset on a CPU). See docs/benchmarks.md for the per-preset results.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch
from torch import nn

import odenets as on
from odenets.networks.blocks import SchemeBlock

COMPILE_ALL = os.environ.get("ODENETS_COMPILE_ALL") == "1"
# The CI suite compiles without inductor's C++ code generation, which costs minutes of
# compiler time per network on a cold cache: with dynamo alone (graph capture, guards, graph
# breaks: the "eager" backend) for every kind, and with AOTAutograd too (functionalization,
# the joint forward/backward graph: "aot_eager") for the kinds whose step has something for
# it to get wrong: the traced reversible backward (coupled), noise draws around a compiled
# step with history (LM + stochastic depth) and two-branch noise (shake-shake). The full run,
# ODENETS_COMPILE_ALL=1, uses inductor; ODENETS_COMPILE_BACKEND overrides the choice.
BACKEND = os.environ.get("ODENETS_COMPILE_BACKEND", "inductor" if COMPILE_ALL else None)
AOT_KINDS = {("coupled", None), ("multistep", "StochasticDepth"), ("stochastic", "ShakeShake")}
TINY = {"widths": (4, 8, 8)}
TINY_STEM = {**TINY, "stem_width": 4}  # RevNet presets fix a 32-wide stem
# dynamo traces the reversible backward (its torch.autograd.grad) only with this option;
# `odenets train --compile` sets it (see docs/benchmarks.md)
SETTINGS = {"trace_autograd_ops": True}


def _noise(net: nn.Module):
    return next(
        (b.noise for b in net.modules() if isinstance(b, SchemeBlock) and b.noise is not None),
        None,
    )


def _kind(net: nn.Module) -> tuple:
    """(scheme family, noise model) of a SolverNet; (class name, None) for the presets that
    are their own architecture (FractalNet)."""
    if not isinstance(net, on.SolverNet):
        return type(net).__name__, None
    noise = _noise(net)
    return net.scheme.family, None if noise is None else type(noise).__name__


def family_configs() -> dict[tuple, tuple[str, dict]]:
    """One small configuration per (scheme family, noise model) among the presets: the first
    preset of that kind, with tiny widths and the smallest depth giving two units per stage
    (so that steps after the first one, with multistep history, are compiled too)."""
    configs: dict[tuple, tuple[str, dict]] = {}
    for name in on.list_models():
        probe = on.create_model(name, **(TINY if "fractal" in name else TINY_STEM))
        kind = _kind(probe)
        if kind in configs:
            continue
        if isinstance(probe, on.SolverNet):
            depth = on.valid_depths(probe.field_name, len(TINY["widths"]), scheme=probe.scheme)[1]
            configs[kind] = (name, {**TINY_STEM, "depth": depth})
        else:  # FractalNet: two columns (one join per block)
            configs[kind] = (name, {**TINY, "columns": 2})
    return configs


FAMILIES = family_configs()


def _randomize(net: nn.Module, mild: bool = False) -> None:
    """Non-trivial residual branches: the last norm (or, pre-activation, the last convolution)
    of each branch starts at zero, F = 0, which would hide a wrong branch. ``mild``: batch-norm
    scales in [0.9, 1.1] and shifts in [-0.1, 0.1] instead of [0.5, 1.5] and [-0.5, 0.5], for
    the full-size presets (the deepest Hamiltonian nets overflow with the wider ones)."""
    gen = torch.Generator().manual_seed(1)
    spread = 0.2 if mild else 1.0
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.copy_(1.0 + spread * (torch.rand(m.weight.shape, generator=gen) - 0.5))
                m.bias.copy_(spread * (torch.rand(m.bias.shape, generator=gen) - 0.5))
        for p in net.parameters():
            if p.ndim > 1 and not p.any():  # a zero-initialised last convolution
                p.copy_(torch.randn(p.shape, generator=gen) * (0.1 / p[0].numel() ** 0.5))


def _largest(t: torch.Tensor) -> float:
    """The largest finite magnitude in ``t`` (0 if none)."""
    finite = t[torch.isfinite(t)]
    return float(finite.abs().max()) if finite.numel() else 0.0


def _close(a, b, what: str, scale: float | None = None) -> None:
    """``a == b`` to 1e-5 relative to ``scale`` (default: the largest finite entry of
    ``b``); where eager overflows (an untrained deep Hamiltonian net in evaluation mode, whose
    batch norms do not renormalise) the compiled net must overflow at the same entries."""
    if a is None or b is None:
        assert a is None and b is None, f"{what}: one side has no gradient"
        return
    if scale is None:
        scale = _largest(b)
    torch.testing.assert_close(
        a, b, rtol=1e-5, atol=1e-5 * max(scale, 1e-6), equal_nan=True, msg=what
    )


def _run(net: nn.Module, call, x: torch.Tensor, seed: int):
    if getattr(net, "noise_source", None) is not None:
        net.noise_source.seed(seed)
    out = call(x)
    params = [p for p in net.parameters() if p.requires_grad]
    grads = torch.autograd.grad(out.square().mean(), params, allow_unused=True)
    return out.detach(), grads


def _breaks() -> list[str]:
    """The graph-break reasons dynamo recorded since the counters were last cleared."""
    return list(torch._dynamo.utils.counters["graph_break"])


def check_compiled_like_eager(
    name: str, overrides: dict, x: torch.Tensor, backend: str, mild: bool = False
):
    """One compiled copy of the preset against the eager net, in training (two steps, fresh
    noise each) and in evaluation mode: outputs, parameter gradients and batch-norm
    statistics equal (float32, 1e-5 relative; stochastic nets draw the same noise, the source
    re-seeded), and no graph break but the noise draws of a stochastic net in training
    (``_draw``: a ``torch.Generator`` cannot be traced) — none at all in evaluation."""
    torch.manual_seed(0)
    eager = on.create_model(name, **overrides)
    _randomize(eager, mild)
    net = copy.deepcopy(eager)
    stochastic = _noise(net) is not None or getattr(net, "drop_path", None) is not None
    torch._dynamo.reset()
    compiled = torch.compile(net, backend=backend)
    with torch._dynamo.config.patch(**SETTINGS):
        for step, mode in enumerate(("train", "train", "eval")):
            eager.train(mode == "train")
            net.train(mode == "train")
            torch._dynamo.utils.counters.clear()
            want, want_grads = _run(eager, eager, x, seed=step)
            got, got_grads = _run(net, compiled, x, seed=step)
            reasons = _breaks()
            if stochastic and mode == "train":
                other = [r for r in reasons if "_draw" not in r]
                assert not other, f"{name} {mode}: graph breaks other than the draws: {other[:2]}"
                if step == 0:
                    assert reasons, f"{name}: expected the noise draws to break the graph"
            else:
                assert not reasons, f"{name} {mode}: graph breaks: {reasons[:2]}"
            _close(got, want, f"{name} {mode}: output")
            # gradients relative to the largest one: a gradient that is zero in exact
            # arithmetic is rounding noise on both sides
            scale = max(_largest(w) for w in want_grads if w is not None)
            for (pname, _), g, w in zip(
                eager.named_parameters(), got_grads, want_grads, strict=True
            ):
                _close(g, w, f"{name} {mode}: gradient of {pname}", scale)
            for (bname, b), c in zip(eager.named_buffers(), net.buffers(), strict=True):
                if b.is_floating_point():
                    _close(c, b, f"{name} {mode}: buffer {bname}")
    torch._dynamo.reset()


@pytest.mark.parametrize("kind", sorted(FAMILIES, key=str), ids=lambda k: "-".join(map(str, k)))
def test_each_kind_of_preset_compiles_like_eager(kind):
    name, overrides = FAMILIES[kind]
    backend = BACKEND or ("aot_eager" if kind in AOT_KINDS else "eager")
    check_compiled_like_eager(name, overrides, torch.randn(2, 3, 8, 8), backend)


@pytest.mark.slow
@pytest.mark.skipif(
    not COMPILE_ALL, reason="full-size compile of every preset: ODENETS_COMPILE_ALL=1"
)
@pytest.mark.parametrize("name", on.list_models())
def test_every_preset_compiles_like_eager(name):
    model = on.create_model(name)
    x = torch.randn(4, model.in_channels, *(32,) * model.dims)
    check_compiled_like_eager(name, {}, x, BACKEND, mild=True)


# --------------------------------------------------------------------- odenets train --compile


@pytest.fixture(scope="module")
def digits():
    from odenets.workflow.data import Dataset, load_dataset

    d = load_dataset("digits")
    keep = {"x_train": d.x_train[:128], "y_train": d.y_train[:128]}
    keep |= {"x_test": d.x_test[:64], "y_test": d.y_test[:64]}
    return Dataset(**{**d.__dict__, **keep})


def _train(digits, tmp_path, compile: bool, model_args: dict | None = None):
    from odenets.workflow.train import TrainConfig, train

    config = TrainConfig(
        model=None,
        model_args=model_args or {"scheme": "lm", "depth": 8, "widths": [4, 8, 8]},
        epochs=1,
        batch_size=32,
        lr=0.05,
        out=str(tmp_path),
        progress=False,
        compile=compile,
    )
    return train(config, dataset=digits)


def test_train_compile_uses_the_compiled_module(digits, tmp_path, monkeypatch):
    calls = []

    def fake_compile(module, **kwargs):
        def compiled(x):
            calls.append(x.shape[0])
            return module(x)

        return compiled

    monkeypatch.setattr(torch, "compile", fake_compile)
    result = _train(digits, tmp_path, compile=True)
    assert sum(calls) == 128  # every training batch went through the compiled callable
    eager = _train(digits, tmp_path / "eager", compile=False)
    assert result.history[-1]["train_loss"] == eager.history[-1]["train_loss"]


@pytest.mark.parametrize("noise", [None, "shake_shake"])
def test_train_compile_failure_falls_back_to_eager_with_one_warning(
    digits, tmp_path, monkeypatch, capsys, noise
):
    args = {"scheme": "euler_maruyama", "depth": 8, "widths": [4, 8, 8], "noise": "shake_shake"}
    args = args if noise else None

    def failing_compile(module, **kwargs):
        def compiled(x):
            module(x)  # a failure after part of the forward ran: buffers and noise advanced
            raise RuntimeError("backend compiler failed\nsecond line of the traceback")

        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    result = _train(digits, tmp_path, compile=True, model_args=args)
    warned = [line for line in capsys.readouterr().err.splitlines() if "torch.compile" in line]
    assert warned == [
        "warning: torch.compile failed (RuntimeError: backend compiler failed); "
        "training without --compile"
    ]
    eager = _train(digits, tmp_path / "eager", compile=False, model_args=args)
    # the failed call was undone: the run is the eager one, bitwise
    assert result.history == [
        {**e, "seconds": r["seconds"]} for e, r in zip(eager.history, result.history, strict=True)
    ]
    ours, theirs = result.model.state_dict(), eager.model.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_aot_checked_kinds_are_kinds_of_presets():
    assert set(FAMILIES) >= AOT_KINDS


# --------------------------------------------------------------------- graphs vs depth


def _graphs_over_training(name: str, depth: int, steps: int = 6) -> int:
    """Graphs a counting backend receives over ``steps`` training steps with fresh draws;
    dynamo raises if any frame hits its recompile limit (it would fall back to eager)."""
    torch._dynamo.reset()
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    overrides = {**TINY_STEM, "depth": depth}
    if "stochastic_depth" in name or name.endswith("_sd"):  # kept and dropped blocks
        overrides["noise"] = on.StochasticDepth(0.5, schedule="linear", per="batch")
    torch.manual_seed(0)
    net = on.create_model(name, **overrides).train()
    compiled = torch.compile(net, backend=backend)
    x = torch.randn(2, 3, 8, 8)
    with torch._dynamo.config.patch(**SETTINGS, fail_on_recompile_limit_hit=True):
        for _ in range(steps):
            compiled(x).square().mean().backward()
    torch._dynamo.reset()
    return len(graphs)


@pytest.mark.slow
# (shake-shake's draws never specialised the frame: its gates are data, not Python values)
@pytest.mark.parametrize("name", ["stochastic_depth_resnet110", "lm_resnet110_sd"])
def test_noisy_nets_compile_a_number_of_graphs_independent_of_depth(name):
    # 6 and 18 noisy blocks (dynamo's recompile limit is 8 per code object), the shallow net
    # trained three times as many steps (as many draws in all): the frames after the draws
    # are shared by all blocks; they used to be specialised per block (survival
    # probability, kept or dropped) and fell back to eager past the limit
    shallow = _graphs_over_training(name, 14, steps=18)
    deep = _graphs_over_training(name, 38, steps=6)
    assert deep <= shallow
