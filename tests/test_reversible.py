"""Invertible families (RevNet as symplectic Euler, Störmer–Verlet, momentum): exact inverses,
the memory-saving backward, presets. The inverse tests run over every family that declares an
inverse."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import odenets as on
from odenets.networks.reversible import reversible_run

DT = torch.float64


def half_fields(c=4, dims=2, seed=0):
    """Two basic fields C/2 -> C/2 with non-zero last BN (so F, G are not 0)."""
    torch.manual_seed(seed)
    fs = [on.FIELDS["basic"](c // 2, dims=dims).double() for _ in range(2)]
    for f in fs:
        nn.init.normal_(f.bn2.weight)
    return fs


def tiny_mlps(c=4, seed=0):
    torch.manual_seed(seed)
    fs = [on.FIELDS["mlp"](c // 2).double() for _ in range(2)]
    for f in fs:
        for p in f.parameters():
            nn.init.normal_(p, std=0.5)
    return fs


def small_revnet(rb, depth=26, seed=0):
    torch.manual_seed(seed)
    net = on.SolverNet(
        "coupled_euler", depth=depth, widths=(8, 16, 16), reversible_backward=rb
    ).double()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight)
    return net


def test_block_is_the_revnet_update():
    f, g = half_fields()
    block = on.SchemeBlock("coupled_euler", [f, g]).eval()
    x = torch.randn(2, 4, 5, 5, dtype=DT)
    x1, x2 = x[:, :2], x[:, 2:]
    y1 = x1 + f(x2)
    y2 = x2 + g(y1)
    torch.testing.assert_close(block(x), torch.cat((y1, y2), 1), rtol=0, atol=0)


@pytest.mark.parametrize("h", [1.0, 0.3])
def test_inverse_is_exact(h):
    f, g = half_fields()
    block = on.SchemeBlock("coupled_euler", [f, g], h).eval()
    x = torch.randn(3, 4, 6, 6, dtype=DT)
    assert block.reversible
    torch.testing.assert_close(block.inverse(block(x)), x, rtol=0, atol=1e-8)
    # training mode: the same batch reconstructs too (batch statistics of the same inputs)
    block.train()
    torch.testing.assert_close(block.inverse(block(x)), x, rtol=0, atol=1e-8)


INVERTIBLE = on.list_schemes(where=lambda f: f.invertible)


def invertible_block(name: str, h: float, seed: int = 0) -> on.SchemeBlock:
    """A block of ``name`` that can be inverted: half-width fields per slot for partitioned
    families, one field otherwise; non-trivial weights."""
    scheme = on.get_scheme(name)
    if scheme.capabilities.partitioned:
        fields = tiny_mlps(8, seed=seed)
        return on.SchemeBlock(name, fields, h, learn=False)
    torch.manual_seed(seed)
    field = on.FIELDS["mlp"](8).double()
    for q in field.parameters():
        nn.init.normal_(q, std=0.3)
    return on.SchemeBlock(name, field, h, learn=False)


@pytest.mark.parametrize("h", [1.0, 0.3])
@pytest.mark.parametrize("name", INVERTIBLE)
def test_every_invertible_family_inverts_exactly(name, h):
    """inverse_step(step(x, s)) == (x, s), from a fresh and from a carried state."""
    block = invertible_block(name, h).eval()
    assert block.reversible
    x = torch.randn(5, 8, dtype=DT)
    y, state = block.step(x)  # a fresh start
    x_back, _ = block.inverse_step(y, state)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-12)
    z, state2 = block.step(y, state)  # carrying the state of the first step
    y_back, state_back = block.inverse_step(z, state2)
    torch.testing.assert_close(y_back, y, rtol=0, atol=1e-12)
    if state is not None:
        torch.testing.assert_close(state_back, state, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name", INVERTIBLE)
def test_every_invertible_family_has_a_memory_saving_backward(name):
    """A run of blocks through reversible_run gives the gradients of plain autograd."""
    blocks = [invertible_block(name, 0.5, seed=i) for i in range(4)]
    x = torch.randn(3, 8, dtype=DT, requires_grad=True)

    def run(reversible):
        out = reversible_run(blocks, x) if reversible else x
        if not reversible:
            state = None
            for block in blocks:
                out, state = block.step(out, state)
        params = [q for b in blocks for q in b.parameters()]
        return torch.autograd.grad(out.sin().sum(), [x, *params])

    for a, b in zip(run(True), run(False), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


def test_inverse_errors():
    x = torch.randn(2, 4, dtype=DT)
    euler = on.SchemeBlock("euler", on.FIELDS["mlp"](4).double())
    reversible = ", ".join(repr(n) for n in INVERTIBLE)
    with pytest.raises(
        ValueError, match=rf"has no exact inverse.*reversible schemes: \[{reversible}\]"
    ):
        euler.inverse(x)
    full = on.SchemeBlock("coupled_euler", on.FIELDS["mlp"](4).double())
    assert not full.reversible
    with pytest.raises(ValueError, match="half-width field"):
        full.inverse(x)
    with pytest.raises(ValueError, match="needs an invertible scheme"):
        on.SolverNet("euler", depth=8, reversible_backward=True)
    momentum = on.SchemeBlock("momentum", on.FIELDS["mlp"](4).double())
    with pytest.raises(ValueError, match="use inverse_step"):
        momentum.inverse(x)
    resnet = on.SchemeBlock("momentum", on.FIELDS["mlp"](4).double(), coefficients={"gamma": 0})
    with pytest.raises(ValueError, match="gamma = 0 is a ResNet step"):
        resnet.inverse_step(*resnet.step(x))


def test_reversible_backward_equals_plain_autograd():
    rev, plain = small_revnet(True), small_revnet(False)
    plain.load_state_dict(rev.state_dict())
    x = torch.randn(4, 3, 8, 8, dtype=DT, requires_grad=True)
    grads = []
    for net in (rev, plain):
        net.train()
        out = net(x)
        (gx,) = torch.autograd.grad(out.square().sum(), x, retain_graph=True)
        out.square().sum().backward()
        grads.append([gx] + [p.grad for p in net.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    # BatchNorm running statistics were updated once, as in plain autograd
    for (k, a), b in zip(rev.state_dict().items(), plain.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=k)


def test_reversible_run_gradcheck():
    blocks = [on.SchemeBlock("coupled_euler", tiny_mlps(seed=s), 0.5) for s in range(3)]
    params = [p for b in blocks for p in b.parameters()]
    x = torch.randn(2, 4, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, *p: reversible_run(blocks, x), (x, *params))


def test_tied_blocks_accumulate_shared_gradients():
    f, g = tiny_mlps()
    blocks = [on.SchemeBlock("coupled_euler", [f, g], 0.5) for _ in range(3)]
    x = torch.randn(2, 4, dtype=DT)
    g_rev = torch.autograd.grad(reversible_run(blocks, x).sum(), list(f.parameters()))
    y = x
    for b in blocks:
        y = b(y)
    g_plain = torch.autograd.grad(y.sum(), list(f.parameters()))
    for a, b in zip(g_rev, g_plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def saved_bytes(net, x):
    params = {p.data_ptr() for p in net.parameters()}
    seen, total = set(), 0

    def pack(t):
        nonlocal total
        key = (t.data_ptr(), t.untyped_storage().nbytes())
        if t.data_ptr() not in params and key not in seen:
            seen.add(key)
            total += t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x).sum()
    return total


def test_saved_activations_do_not_grow_with_depth():
    x = torch.randn(2, 3, 8, 8, dtype=DT)
    shallow, deep = small_revnet(True, depth=26), small_revnet(True, depth=74)
    plain_shallow, plain_deep = small_revnet(False, depth=26), small_revnet(False, depth=74)
    assert saved_bytes(deep, x) == saved_bytes(shallow, x)
    assert saved_bytes(plain_deep, x) > 2.5 * saved_bytes(plain_shallow, x)


def test_odeint_split_dimension():
    f = lambda t, y: torch.stack((y[..., 1], -y[..., 0]), -1)  # noqa: E731  rotation
    y0 = torch.tensor([1.0, 0.0], dtype=DT)
    out = on.odeint(f, y0, torch.linspace(0, 1, 201, dtype=DT), "coupled_euler")
    torch.testing.assert_close(
        out[-1],
        torch.stack(
            (torch.cos(torch.tensor(1.0, dtype=DT)), -torch.sin(torch.tensor(1.0, dtype=DT)))
        ),
        rtol=0,
        atol=1e-2,
    )
    # symplectic Euler on the oscillator keeps the energy bounded over long times
    long = on.odeint(f, y0, torch.linspace(0, 200, 4001, dtype=DT), "coupled_euler")
    energy = long.square().sum(-1)
    assert energy.max() < 1.1 and energy.min() > 0.9
    with pytest.raises(ValueError, match="even size"):
        on.odeint(lambda t, y: -y, torch.ones(3, dtype=DT), [0.0, 0.1], "coupled_euler")
    with pytest.raises(ValueError, match="dim=3"):
        on.odeint(
            lambda t, y: -y,
            torch.ones(2, 2, dtype=DT),
            [0.0, 0.1],
            "coupled_euler",
            options={"dim": 3},
        )


@pytest.mark.parametrize(
    ("name", "count"), [("revnet38", 464_890), ("revnet110", 1_729_194), ("revnet164", 1_748_778)]
)
def test_revnet_parameter_counts(name, count):
    """The layers of the authors' TensorFlow code (renmengye/revnet-public), counted exactly
    (the paper's table rounds them: 0.46M, 1.73M, 1.75M); tests/test_reference_revnet.py
    counts a reference written from the paper."""
    assert on.count_parameters(on.create_model(name)) == count


def test_revnet_preset_is_reversible_by_default():
    net = on.create_model("revnet38")
    assert all(stage.reversible_backward for stage in net.stages)
    assert all(b.reversible for b in net.blocks)
    assert len(net.blocks) == 3 * 3 - 2  # 3 units per stage, 2 of them transitions
    plain = on.create_model("revnet38", reversible_backward=False)
    assert not any(stage.reversible_backward for stage in plain.stages)


def test_reversible_backward_under_bf16_autocast_matches_plain_autograd():
    """The recomputation in backward runs under the forward's autocast (it failed with a
    bfloat16 input against float32 weights)."""
    grads = []
    for reversible in (True, False):
        torch.manual_seed(0)
        net = on.create_model("revnet38", widths=(32, 32, 32), reversible_backward=reversible)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = net(torch.randn(2, 3, 8, 8)).float().square().mean()
        loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert grads[0].dtype == torch.float32
    torch.testing.assert_close(grads[0], grads[1], rtol=0.05, atol=0.02 * grads[1].abs().max())
