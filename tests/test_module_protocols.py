"""Every preset is an ordinary ``nn.Module``: it deep-copies, pickles, ``torch.save``s whole,
works under ``AveragedModel`` (SWA) and a timm-style EMA, and ``torch.jit.trace``s and
``torch.export``s, each giving the original's outputs in evaluation mode. Copies of a
stochastic net carry the state of its noise generator. A history-threading block called on
its own warns that its state is dropped, and ``count_field_calls`` counts every F.

The presets' weights are perturbed first (their residual branches start at zero, which
would make every block the identity and the checks blind to the blocks)."""

from __future__ import annotations

import copy
import functools
import io
import pickle
import warnings

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

import odenets as on

pytestmark = [
    pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning"),
    # torch.jit is deprecated in favour of torch.export; users still trace, so it is checked
    pytest.mark.filterwarnings("ignore:`torch.jit.trace:DeprecationWarning"),
]

ATOL = 1e-6  # float32, relative to the largest output when that is above 1 (the Hamiltonian
# presets keep their authors' initialisation: F != 0 at the start, logits of O(10-100))


@functools.cache
def _preset(name: str) -> nn.Module:
    """The full-size preset in evaluation mode with every parameter and BN statistic
    perturbed (built once per session; the tests below only read it)."""
    return _perturb_all(on.create_model(name)).eval()


@functools.cache
def _reduced(name: str) -> nn.Module:
    """The preset with two residual units per stage and narrow stages (its scheme, field,
    shortcuts, tying, norms and noise kept): copying, tracing and export depend on the kinds
    of modules a net holds, not on how many or how wide; the full-size presets are checked
    once per family (:func:`test_full_size_preset_copies`)."""
    with torch.device("meta"):  # the preset's configuration, without allocating it
        full = on.create_model(name)
    widths = tuple(8 * 2 ** min(i, 1) for i in range(len(full.widths)))
    if getattr(full, "scheme", None) is None:  # not a scheme net (FractalNet)
        return _perturb_all(on.create_model(name, widths=(4,) * len(full.widths))).eval()
    depth = on.valid_depths(full.field_name, len(full.widths), scheme=full.scheme)[1]
    small = {"depth": min(depth, full.depth), "widths": widths, "stem_width": widths[0]}
    return _perturb_all(on.create_model(name, **small)).eval()


def _perturb_all(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
    return model


def _inputs(model: nn.Module, seed: int = 1) -> torch.Tensor:
    """A small batch for ``model``: (2, C, 8, 8) for images, (2, C, 8) for sequences."""
    gen = torch.Generator().manual_seed(seed)
    channels = getattr(model, "in_channels", 3)
    if getattr(model, "vector", False):
        return torch.randn(2, channels, generator=gen)
    return torch.randn(2, channels, *(8,) * getattr(model, "dims", 2), generator=gen)


@torch.no_grad()
def _same_outputs(copied: nn.Module, original: nn.Module, x: torch.Tensor | None = None) -> None:
    x = _inputs(original) if x is None else x
    expected = original(x)
    assert torch.isfinite(expected).all()
    scale = max(1.0, float(expected.abs().max()))
    torch.testing.assert_close(copied(x), expected, rtol=0, atol=ATOL * scale)


def _family(model: nn.Module) -> str:
    """The family of the preset's scheme (the class name of a net that has none: FractalNet)."""
    scheme = getattr(model, "scheme", None)
    return type(model).__name__ if scheme is None else scheme.family


def _noise_kind(model: nn.Module) -> str:
    """The family of the preset's scheme, plus its noise model if it has one."""
    noise = next(
        (
            type(b.noise).__name__
            for b in model.modules()
            if isinstance(b, on.SchemeBlock) and b.noise is not None
        ),
        None,
    )
    return _family(model) + (f"+{noise}" if noise else "")


def _representatives() -> dict[str, str]:
    """The first preset (in name order) of every family + noise model any preset uses."""
    best: dict[str, str] = {}
    for name in on.list_models():
        best.setdefault(_noise_kind(_reduced(name)), name)
    return dict(sorted(best.items()))


MODELS = on.list_models()
REPRESENTATIVES = _representatives()
STOCHASTIC = [n for n in MODELS if getattr(_reduced(n), "noise_source", None) is not None]


# ---------------------------------------------------------------- copies


@pytest.mark.parametrize("name", on.list_schemes())
def test_every_scheme_record_is_plain_data(name):
    scheme = on.get_scheme(name)
    assert pickle.loads(pickle.dumps(scheme)) == scheme
    assert copy.deepcopy(scheme) == scheme
    for part in (scheme.coefficients, scheme.options):
        assert type(part) is dict  # not a MappingProxyType, which cannot be pickled


@pytest.mark.parametrize("name", MODELS)
def test_deepcopy(name):
    model = _reduced(name)
    twin = copy.deepcopy(model)
    assert not any(a is b for a, b in zip(twin.parameters(), model.parameters(), strict=True))
    _same_outputs(twin, model)


@pytest.mark.parametrize("name", MODELS)
def test_pickle(name):
    model = _reduced(name)
    _same_outputs(pickle.loads(pickle.dumps(model)), model)


@pytest.mark.parametrize("name", MODELS)
def test_torch_save_whole_model(name):
    model = _reduced(name)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert type(loaded) is type(model)
    _same_outputs(loaded, model)


@pytest.mark.parametrize("name", list(REPRESENTATIVES.values()), ids=list(REPRESENTATIVES))
def test_full_size_preset_copies(name):
    """The full-size preset of every family (and noise model): deep copy, pickle and a whole
    ``torch.save`` give its outputs."""
    model = _preset(name)
    _same_outputs(copy.deepcopy(model), model)
    _same_outputs(pickle.loads(pickle.dumps(model)), model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    _same_outputs(torch.load(buffer, weights_only=False), model)


def _in_double(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The reduced preset and its inputs in float64: the averaging tests check which weights a
    net holds, which float32 rounding amplified through a deep net would blur."""
    model = copy.deepcopy(_reduced(name)).double()
    return model, _inputs(model).double()


def _perturbed(model: nn.Module, seed: int) -> nn.Module:
    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    return other


@pytest.mark.parametrize("name", MODELS)
def test_averaged_model_swa(name):
    """AveragedModel copies the net, update_parameters averages it; the average of A and B
    has the parameters (A + B) / 2 and the outputs of a net holding them (the reduced preset, in
    float64)."""
    a, x = _in_double(name)
    swa = AveragedModel(a)
    swa.update_parameters(a)
    swa.eval()
    _same_outputs(swa, a, x)
    b = _perturbed(a, seed=2)
    swa.update_parameters(b)
    oracle = copy.deepcopy(a)
    with torch.no_grad():
        for p, pa, pb in zip(oracle.parameters(), a.parameters(), b.parameters(), strict=True):
            p.copy_((pa + pb) / 2)
    _same_outputs(swa, oracle, x)


class ModelEma:
    """A minimal timm-style EMA (as ModelEmaV2): a deep copy in evaluation mode whose floating
    tensors follow the model by ``e <- decay e + (1 - decay) m`` (integers are copied).

    It walks ``parameters()`` and ``buffers()``, which list a tensor shared by several blocks
    (``tie="all"``) once; ``state_dict()`` lists it under every key that reaches it."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        self.decay = decay

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for tensors in (zip(self.module.parameters(), model.parameters(), strict=True),
                        zip(self.module.buffers(), model.buffers(), strict=True)):  # fmt: skip
            for e, m in tensors:
                if e.is_floating_point():
                    e.lerp_(m, 1 - self.decay)
                else:
                    e.copy_(m)


@pytest.mark.parametrize("name", MODELS)
def test_timm_style_ema(name):
    """The EMA of A toward B holds 0.75 A + 0.25 B under every state_dict key and gives the
    outputs of a net holding them (the reduced preset, in float64)."""
    a, x = _in_double(name)
    ema = ModelEma(a, decay=0.75)
    _same_outputs(ema.module, a, x)
    b = _perturbed(a, seed=3)
    ema.update(b)
    oracle = copy.deepcopy(a)
    with torch.no_grad():
        for p, pa, pb in zip(oracle.parameters(), a.parameters(), b.parameters(), strict=True):
            p.copy_(0.75 * pa + 0.25 * pb)
    expected = oracle.state_dict()
    for key, value in ema.module.state_dict().items():  # every key, shared tensors included
        torch.testing.assert_close(value, expected[key], rtol=0, atol=ATOL)
    _same_outputs(ema.module, oracle, x)


@pytest.mark.parametrize("name", STOCHASTIC)
def test_copies_of_a_stochastic_net_draw_the_same_noise(name):
    """Deep-copied, pickled and saved copies keep the noise generator's state: in training
    mode each draws what the original draws, independently of it."""
    original = copy.deepcopy(_reduced(name)).train()
    x = _inputs(original)

    def saved(model):
        buffer = io.BytesIO()
        torch.save(model, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=False)

    copies = [copy.deepcopy(original), pickle.loads(pickle.dumps(original)), saved(original)]
    with torch.no_grad():
        first = original(x)
        second = original(x)
        assert not torch.equal(first, second)  # noise is drawn
        for twin in copies:
            assert twin.noise_source is not original.noise_source
            torch.testing.assert_close(twin(x), first, rtol=0, atol=ATOL)
            torch.testing.assert_close(twin(x), second, rtol=0, atol=ATOL)


# ---------------------------------------------------------------- tracing and export


@pytest.mark.parametrize("name", list(REPRESENTATIVES.values()), ids=list(REPRESENTATIVES))
def test_jit_trace(name):
    """The trace (of the reduced preset, one per family and noise model: tracing records
    the operations of the kinds of modules a net holds) replays the forward on a different
    input of the same shape."""
    model = _reduced(name)
    with torch.no_grad():
        traced = torch.jit.trace(model, _inputs(model, seed=4), check_trace=False)
    _same_outputs(traced, model, _inputs(model, seed=5))


@pytest.mark.parametrize("name", list(REPRESENTATIVES.values()), ids=list(REPRESENTATIVES))
def test_torch_export(name):
    """One preset per family (and noise model) any preset uses, reduced; evaluation mode."""
    model = _reduced(name)
    exported = torch.export.export(model, (_inputs(model, seed=4),))
    _same_outputs(exported.module(), model, _inputs(model, seed=5))


def test_representatives_cover_every_family_of_the_presets():
    families = {_family(_reduced(n)) for n in MODELS}
    assert {kind.split("+")[0] for kind in REPRESENTATIVES} == families
    assert {"explicit_rk", "multistep", "implicit", "coupled", "stochastic"} <= families


# ---------------------------------------------------------------- a block outside a stage


def _lm_blocks(n: int = 3) -> list[on.SchemeBlock]:
    """LM blocks with learned k (initial values far from the ResNet's k = 0)."""
    return [
        on.SchemeBlock("lm", nn.Linear(4, 4).double(), coefficients={"k": -0.5 + 0.2 * i})
        for i in range(n)
    ]


def test_lm_block_outside_a_stage_warns_once_and_runs_euler():
    blocks = _lm_blocks()
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.warns(UserWarning, match=r"'lm' SchemeBlock .* forward Euler.* learned k"):
        y = nn.Sequential(*blocks)(x)
    euler = x
    for block in blocks:  # what nn.Sequential runs: Euler steps, k unused
        euler = euler + block.fields[0](euler)
    torch.testing.assert_close(y, euler, rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per block: no second warning
        nn.Sequential(*blocks)(x)


def test_lm_blocks_in_a_stage_or_threaded_by_hand_run_lm_without_warning():
    blocks = _lm_blocks()
    x = torch.randn(2, 4, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        staged = on.SchemeStage(blocks)(x)
        y, state = x, None
        for block in blocks:
            y, state = block.step(y, state)
    torch.testing.assert_close(y, staged, rtol=0, atol=1e-12)
    # the LM-ResNet recursion x_{n+1} = (1-k) x_n + k x_{n-1} + (1+k) F(x_n), Euler start
    prev, cur = x, x + blocks[0].fields[0](x)
    for block in blocks[1:]:
        k = block.coefficients["k"]
        prev, cur = cur, (1 - k) * cur + k * prev + (1 + k) * block.fields[0](cur)
    torch.testing.assert_close(staged, cur, rtol=0, atol=1e-12)
    euler = x
    for block in blocks:
        euler = euler + block.fields[0](euler)
    assert not torch.allclose(staged, euler)  # the history matters here


def test_blocks_without_learned_history_coefficients_do_not_warn():
    x = torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        on.SchemeBlock("lm", nn.Linear(4, 4), learn=False)(x)
        on.SchemeBlock("ab2", nn.Linear(4, 4))(x)
        on.SchemeBlock("euler", nn.Linear(4, 4))(x)
        on.SolverNet("lm", depth=8, widths=(4, 4, 4)).eval()(torch.randn(2, 3, 8, 8))


# ---------------------------------------------------------------- count_field_calls


class Counted(nn.Module):
    """A field that counts its own calls (the oracle for the hooks)."""

    def __init__(self, dim: int = 4) -> None:
        super().__init__()
        self.linear = nn.Linear(dim, dim)
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return 0.1 * torch.tanh(self.linear(x))


@pytest.mark.parametrize(
    ("scheme", "fields", "options", "expected"),
    [
        ("rk4", 1, None, 4),  # one plain module in every RK stage
        ("heun", 2, None, 2),  # [F1, F2]: one call each
        ("rk38", 4, None, 4),
        ("backward_euler", 1, {"solver": "series", "order": 1}, 1),
        ("backward_euler", 1, {"solver": "series", "order": 3}, 3),  # x + F + F∘F + F∘F∘F
        ("backward_euler", 2, {"solver": "series", "order": 2}, 2),  # mpoly: x + F + G∘F
    ],
)
def test_count_field_calls_counts_every_f(scheme, fields, options, expected):
    modules = [Counted() for _ in range(fields)]
    block = on.SchemeBlock(scheme, modules[0] if fields == 1 else modules, options=options)
    assert on.count_field_calls(block, torch.randn(3, 4)) == expected
    assert sum(m.calls for m in modules) == expected


def test_count_field_calls_of_an_iterative_implicit_block_is_measured():
    field = Counted()
    block = on.SchemeBlock("backward_euler", field, options={"solver": "solve", "tol": 1e-10})
    calls = on.count_field_calls(block, torch.randn(3, 4))
    assert calls == field.calls > block.f_evals


@pytest.mark.parametrize(
    ("noise", "branches"),
    [("shake_shake", 2), (on.StochasticDepth(survival=0.5, schedule="constant"), 1)],
)
def test_count_field_calls_of_noisy_blocks_counts_their_branches(noise, branches):
    modules = [Counted() for _ in range(branches)]
    block = on.SchemeBlock("euler_maruyama", modules, noise=noise, source=on.NoiseSource()).train()
    assert on.count_field_calls(block, torch.randn(3, 4)) == branches  # in evaluation mode
    assert block.training  # the mode is restored
    assert sum(m.calls for m in modules) == branches


def test_count_field_calls_sums_over_blocks_in_any_container():
    a, b, c = Counted(), Counted(), Counted()
    seq = nn.Sequential(on.SchemeBlock("rk4", a), on.SchemeBlock("heun", [b, c]))
    assert on.count_field_calls(seq, torch.randn(3, 4)) == 6
    assert (a.calls, b.calls, c.calls) == (4, 1, 1)


@pytest.mark.parametrize("name", ["resnet20", "rk4_resnet20", "ode_resnet", "polynet20"])
def test_count_field_calls_of_a_preset_is_the_sum_of_its_blocks(name):
    model = on.create_model(name)
    blocks = [b for b in model.modules() if isinstance(b, on.SchemeBlock)]
    # an explicit step evaluates its stages; PolyNet's series x + F + F∘F its order
    expected = sum(
        b.options["order"] if b.options.get("solver") == "series" else b.f_evals for b in blocks
    )
    assert on.count_field_calls(model, torch.randn(1, 3, 8, 8)) == expected
