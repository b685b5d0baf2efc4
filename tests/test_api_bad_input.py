"""Bad input to the Python API: every case is a named TypeError / ValueError whose message says
what was expected and what was given (and the closest valid name for an unknown one) — never a
raw torch / Python error from deep inside, never silent acceptance.

One table per area; each row is ``(call, exception type, regex the message must match)``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import odenets as on
from odenets import unfold
from odenets.networks import nets as nets_module
from odenets.numerics.families import Family
from odenets.workflow.data import load_dataset

NAN, INF = float("nan"), float("inf")
TAB = on.get_scheme("euler").tableau
Y0 = torch.ones(2)


def f(t, y):
    return -y


class Tuple(nn.Module):
    def forward(self, x):
        return (x,)


def net():
    return on.SolverNet("euler", depth=8, widths=(4, 8, 8)).eval()


def _cases(table):
    return pytest.mark.parametrize(
        ("call", "error", "message"), [row[1:] for row in table], ids=[row[0] for row in table]
    )


# ------------------------------------------------------------------ records and registries

RECORDS = [
    ("tableau b sum", lambda: on.ButcherTableau(a=[[]], b=[0.5], c=[0]), ValueError, "sum to 1"),
    (
        "tableau row sum",
        lambda: on.ButcherTableau(a=[[], [1]], b=[0.5, 0.5], c=[0, 0.5]),
        ValueError,
        "row sum of a\\[1\\] must equal c\\[1\\]",
    ),
    (
        "tableau c length",
        lambda: on.ButcherTableau(a=[[]], b=[1], c=[0, 1]),
        ValueError,
        "one node per stage",
    ),
    ("tableau nan", lambda: on.ButcherTableau(a=[[]], b=[NAN], c=[0]), ValueError, "finite"),
    ("tableau str", lambda: on.ButcherTableau(a=[[]], b="1", c=[0]), TypeError, "sequence"),
    (
        "tableau a rows",
        lambda: on.ButcherTableau(a=[[], []], b=[1], c=[0]),
        ValueError,
        "one row per stage",
    ),
    ("tableau empty", lambda: on.ButcherTableau(a=[], b=[], c=[]), ValueError, "at least one"),
    (
        "multistep inconsistent",
        lambda: on.MultistepCoefficients(a=(1, 0), b=(1, 1)),
        ValueError,
        "consistency",
    ),
    (
        "multistep unstable",
        lambda: on.MultistepCoefficients(a=(3, -2), b=(0, 1)),
        ValueError,
        "not zero-stable|consistency",
    ),
    (
        "multistep lengths",
        lambda: on.MultistepCoefficients(a=(1,), b=(1, 0)),
        ValueError,
        "same positive length",
    ),
    (
        "scheme name",
        lambda: on.Scheme("Bad Name", "explicit_rk", 1, 1, "-", "-", TAB),
        ValueError,
        "lowercase id",
    ),
    (
        "scheme family",
        lambda: on.Scheme("x", "explicit", 1, 1, "-", "-", TAB),
        ValueError,
        "did you mean 'explicit_rk'",
    ),
    (
        "scheme order inf",
        lambda: on.Scheme("x", "explicit_rk", INF, 1, "-", "-", TAB),
        ValueError,
        "finite positive",
    ),
    (
        "scheme order nan",
        lambda: on.Scheme("x", "explicit_rk", NAN, 1, "-", "-", TAB),
        ValueError,
        "finite positive",
    ),
    (
        "scheme order 0",
        lambda: on.Scheme("x", "explicit_rk", 0, 1, "-", "-", TAB),
        ValueError,
        "finite positive",
    ),
    (
        "scheme stages 0",
        lambda: on.Scheme("x", "explicit_rk", 1, 0, "-", "-", TAB),
        ValueError,
        "stages",
    ),
    (
        "scheme stages mismatch",
        lambda: on.Scheme("x", "explicit_rk", 1, 2, "-", "-", TAB),
        ValueError,
        "declares 2 stages but its tableau has 1",
    ),
    (
        "scheme tableau type",
        lambda: on.Scheme("x", "explicit_rk", 1, 1, "-", "-", (1,)),
        TypeError,
        "needs a tableau of type ButcherTableau",
    ),
    (
        "implicit tableau as explicit",
        lambda: on.Scheme("x", "explicit_rk", 1, 1, "-", "-", on.ButcherTableau([[1]], [1], [1])),
        ValueError,
        "strictly lower-triangular",
    ),
    (
        "scheme strong order",
        lambda: on.Scheme("x", "stochastic", 1, 1, "-", "-", strong_order=-1),
        ValueError,
        "strong_order",
    ),
    (
        "scheme coefficient type",
        lambda: on.Scheme(
            "x", "multistep", 1, 1, "-", "-", on.get_scheme("ab2").tableau, coefficients={"k": 0.5}
        ),
        TypeError,
        "must be a Coefficient",
    ),
    (
        "scheme clash",
        lambda: on.Scheme(
            "x",
            "coupled",
            1,
            2,
            "-",
            "-",
            options={"dim": None},
            coefficients={"dim": on.Coefficient(0.0)},
        ),
        ValueError,
        "both coefficients and options",
    ),
    (
        "coefficient default outside",
        lambda: on.Coefficient(2.0, low=0.0, high=1.0),
        ValueError,
        "must lie in \\[0, 1\\]",
    ),
    (
        "coefficient bounds",
        lambda: on.Coefficient(0.0, low=1.0, high=0.0),
        ValueError,
        "low < high",
    ),
    ("coefficient nan", lambda: on.Coefficient(NAN), TypeError, "must be a number"),
    ("register scheme type", lambda: on.register_scheme("euler"), TypeError, "expects a Scheme"),
    (
        "register scheme duplicate",
        lambda: on.register_scheme(on.get_scheme("euler")),
        ValueError,
        "replace=True",
    ),
    ("get scheme unknown", lambda: on.get_scheme("rk5"), ValueError, "did you mean 'rk4'"),
    ("get scheme type", lambda: on.get_scheme(4), TypeError, "name \\(str\\) or a Scheme"),
    (
        "list schemes family",
        lambda: on.list_schemes("multi"),
        ValueError,
        "did you mean 'multistep'",
    ),
    (
        "family name",
        lambda: Family(name="bad name", bind=lambda *a: None),
        ValueError,
        "identifier",
    ),
    ("family bind", lambda: Family(name="x", bind=3), TypeError, "bind must be callable"),
    (
        "family noise",
        lambda: Family(name="x", bind=lambda *a: None, noise="gaussian"),
        ValueError,
        "noise must be one of",
    ),
    (
        "family order_on",
        lambda: Family(name="x", bind=lambda *a: None, order_on="linear"),
        ValueError,
        "order_on",
    ),
    (
        "family slots",
        lambda: Family(name="x", bind=lambda *a: None, slots=0),
        ValueError,
        "positive int",
    ),
    (
        "register family duplicate",
        lambda: on.register_family(on.get_family("explicit_rk")),
        ValueError,
        "replace=True",
    ),
    ("get family unknown", lambda: on.get_family("coupld"), ValueError, "did you mean 'coupled'"),
    ("field unknown", lambda: on.get_field("basik"), ValueError, "did you mean 'basic'"),
    ("field type", lambda: on.get_field(3), TypeError, "registered name"),
    (
        "register field duplicate",
        lambda: on.register_field("basic", nn.Identity),
        ValueError,
        "replace=True",
    ),
    (
        "register field name",
        lambda: on.register_field("not a name", nn.Identity),
        ValueError,
        "identifier",
    ),
    ("model unknown", lambda: on.create_model("resnet21"), ValueError, "did you mean 'resnet20'"),
    ("model type", lambda: on.create_model(20), TypeError, "str"),
    ("model kwarg", lambda: on.create_model("resnet20", depht=32), TypeError, "depht"),
]


@_cases(RECORDS)
def test_records_and_registries(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ integration

INTEGRATION = [
    ("f not callable", lambda: on.odeint(3, Y0, [0, 1]), TypeError, "callable"),
    ("y0 list", lambda: on.odeint(f, [1.0], [0, 1]), TypeError, "torch.Tensor"),
    (
        "y0 int",
        lambda: on.odeint(f, torch.ones(2, dtype=torch.long), [0, 1]),
        TypeError,
        "floating",
    ),
    ("t 2-D", lambda: on.odeint(f, Y0, torch.zeros(2, 2)), ValueError, "1-D"),
    ("t empty", lambda: on.odeint(f, Y0, []), ValueError, "at least one"),
    ("t repeated", lambda: on.odeint(f, Y0, [0, 1, 1]), ValueError, "strictly"),
    ("t nan", lambda: on.odeint(f, Y0, [0, NAN]), ValueError, "finite"),
    ("t str", lambda: on.odeint(f, Y0, "01"), TypeError, "tensor or sequence"),
    ("scheme unknown", lambda: on.odeint(f, Y0, [0, 1], "rk5"), ValueError, "did you mean"),
    (
        "backend unknown",
        lambda: on.odeint(f, Y0, [0, 1], backend="torchdifeq"),
        ValueError,
        "did you mean 'torchdiffeq'",
    ),
    ("field shape", lambda: on.odeint(lambda t, y: y[:1], Y0, [0, 1]), ValueError, "shape of y"),
    (
        "field tuple",
        lambda: on.odeint(lambda t, y: (y,), Y0, [0, 1], "euler"),
        TypeError,
        "tensor|Tensor",
    ),
    (
        "coefficient unknown",
        lambda: on.odeint(f, Y0, [0, 1], "lm", coefficients={"kk": 1}),
        TypeError,
        "unexpected option\\(s\\) \\['kk'\\]",
    ),
    (
        "coefficient as option",
        lambda: on.odeint(f, Y0, [0, 1], "lm", options={"k": 1}),
        TypeError,
        "are coefficients of scheme 'lm'",
    ),
    (
        "coefficient str",
        lambda: on.odeint(f, Y0, [0, 1], "lm", coefficients={"k": "a"}),
        TypeError,
        "must be a number",
    ),
    (
        "coefficient nan",
        lambda: on.odeint(f, Y0, [0, 1], "lm", coefficients={"k": NAN}),
        ValueError,
        "must lie in",
    ),
    (
        "coefficient unstable",
        lambda: on.odeint(f, Y0, [0, 1], "lm", coefficients={"k": 1.5}),
        ValueError,
        "zero-stable",
    ),
    (
        "momentum gamma 1",
        lambda: on.odeint(f, Y0, [0, 1], "momentum", coefficients={"gamma": 1.0}),
        ValueError,
        "\\[0, 1\\)",
    ),
    (
        "option unknown",
        lambda: on.odeint(f, Y0, [0, 1], "backward_euler", options={"solvr": "series"}),
        TypeError,
        "solvr",
    ),
    (
        "option solver",
        lambda: on.odeint(f, Y0, [0, 1], "backward_euler", options={"solver": "newton"}),
        ValueError,
        "solver",
    ),
    (
        "option order",
        lambda: on.odeint(
            f, Y0, [0, 1], "backward_euler", options={"solver": "series", "order": 0}
        ),
        ValueError,
        "order must be >= 1",
    ),
    (
        "coupled odd",
        lambda: on.odeint(f, torch.ones(3), [0, 1], "coupled_euler"),
        ValueError,
        "even size",
    ),
    (
        "coupled dim",
        lambda: on.odeint(f, Y0, [0, 1], "coupled_euler", options={"dim": 3}),
        ValueError,
        "dim=3",
    ),
    (
        "coupled dim type",
        lambda: on.odeint(f, Y0, [0, 1], "coupled_euler", options={"dim": "0"}),
        TypeError,
        "dim must be an int",
    ),
    ("multistep grid", lambda: on.odeint(f, Y0, [0, 0.1, 0.3], "ab2"), ValueError, "uniform grid"),
    (
        "momentum grid",
        lambda: on.odeint(f, Y0, [0, 0.1, 0.3], "momentum"),
        ValueError,
        "uniform grid",
    ),
    ("adjoint odenets", lambda: on.odeint(f, Y0, [0, 1], adjoint=True), ValueError, "torchdiffeq"),
    ("sdeint scheme", lambda: on.sdeint(f, f, Y0, [0, 1], "rk4"), ValueError, "SDE scheme"),
    ("sdeint decreasing", lambda: on.sdeint(f, f, Y0, [1, 0]), ValueError, "increasing"),
    (
        "sdeint increments shape",
        lambda: on.sdeint(f, f, Y0, [0, 1], increments=torch.zeros(2, 2)),
        ValueError,
        "increments must be of shape",
    ),
    (
        "sdeint both",
        lambda: on.sdeint(
            f, f, Y0, [0, 1], generator=torch.Generator(), increments=torch.zeros(1, 2)
        ),
        ValueError,
        "at most one source of noise",
    ),
    (
        "sdeint generator type",
        lambda: on.sdeint(f, f, Y0, [0, 1], generator=3),
        TypeError,
        "torch.Generator",
    ),
]


@_cases(INTEGRATION)
def test_integration(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ blocks and networks

NETWORKS = [
    ("block fields type", lambda: on.SchemeBlock("euler", 3), TypeError, "nn.Module"),
    (
        "block fields count",
        lambda: on.SchemeBlock("heun", [nn.Identity()] * 3),
        ValueError,
        "2 field slot",
    ),
    ("block h 0", lambda: on.SchemeBlock("euler", nn.Identity(), 0), ValueError, "h must be > 0"),
    ("block h nan", lambda: on.SchemeBlock("euler", nn.Identity(), NAN), ValueError, "finite"),
    ("block h str", lambda: on.SchemeBlock("euler", nn.Identity(), "1"), TypeError, "number"),
    (
        "block learn nothing",
        lambda: on.SchemeBlock("euler", nn.Identity(), learn=True),
        ValueError,
        "no coefficients to learn",
    ),
    (
        "block coefficient",
        lambda: on.SchemeBlock("lm", nn.Identity(), coefficients={"q": 1}),
        TypeError,
        "\\['q'\\]",
    ),
    (
        "block noise scheme",
        lambda: on.SchemeBlock("heun", [nn.Identity()], noise="gaussian", source=on.NoiseSource()),
        ValueError,
        "cannot take noise",
    ),
    (
        "block noise source",
        lambda: on.SchemeBlock("euler_maruyama", [nn.Identity()], noise="gaussian"),
        TypeError,
        "NoiseSource",
    ),
    (
        "block branches",
        lambda: on.SchemeBlock(
            "euler_maruyama", [nn.Identity()], noise="shake_shake", source=on.NoiseSource()
        ),
        ValueError,
        "needs 2 residual branch",
    ),
    (
        "block shortcut type",
        lambda: on.SchemeBlock("euler", nn.Identity(), shortcut=3),
        TypeError,
        "shortcut must be an nn.Module",
    ),
    (
        "transition shortcut",
        lambda: on.Transition("euler", nn.Identity(), None),
        TypeError,
        "needs a shortcut",
    ),
    (
        "block tuple output",
        lambda: on.SchemeBlock("euler", Tuple())(torch.ones(2, 2)),
        TypeError,
        "must return a tensor, got tuple",
    ),
    (
        "block wrong channels",
        lambda: on.SchemeBlock("euler", nn.Conv2d(4, 8, 1))(torch.ones(2, 4, 3, 3)),
        ValueError,
        "must return shape \\(2, 4, 3, 3\\)",
    ),
    (
        "block int input",
        lambda: on.SchemeBlock("euler", nn.Identity())(torch.ones(2, 4, dtype=torch.long)),
        TypeError,
        "floating tensor",
    ),
    (
        "block list input",
        lambda: on.SchemeBlock("euler", nn.Identity())([1.0]),
        TypeError,
        "torch.Tensor",
    ),
    (
        "inverse of euler",
        lambda: on.SchemeBlock("euler", nn.Identity()).inverse(Y0),
        ValueError,
        "no exact inverse",
    ),
    (
        "sde of plain",
        lambda: on.SchemeBlock("euler", nn.Identity()).sde(Y0),
        ValueError,
        "no noise model",
    ),
    (
        "stage not reversible",
        lambda: on.SchemeStage([on.SchemeBlock("euler", nn.Identity())], reversible_backward=True),
        ValueError,
        "reversible blocks",
    ),
    ("net scheme", lambda: on.SolverNet("eulr"), ValueError, "did you mean 'euler'"),
    ("net depth", lambda: on.SolverNet("euler", depth=21), ValueError, "6n\\+2"),
    ("net depth type", lambda: on.SolverNet("euler", depth="20"), TypeError, "int"),
    ("net depth bound", lambda: on.SolverNet("euler", depth=600002), ValueError, "MAX_DEPTH"),
    ("net widths str", lambda: on.SolverNet("euler", widths="163264"), TypeError, "sequence"),
    ("net widths empty", lambda: on.SolverNet("euler", widths=()), TypeError, "non-empty"),
    ("net widths zero", lambda: on.SolverNet("euler", widths=(0, 8, 8)), ValueError, ">= 1"),
    (
        "net widths odd coupled",
        lambda: on.SolverNet("coupled_euler", depth=14, widths=(3, 8, 8)),
        ValueError,
        "even",
    ),
    ("net field", lambda: on.SolverNet("euler", field="basik"), ValueError, "did you mean"),
    ("net dims", lambda: on.SolverNet("euler", dims=3), ValueError, "dims must be 1"),
    ("net tie", lambda: on.SolverNet("euler", tie="some"), ValueError, "tie"),
    (
        "net shortcut",
        lambda: on.SolverNet("euler", shortcut="cnv"),
        ValueError,
        "did you mean 'conv'",
    ),
    ("net stem", lambda: on.SolverNet("euler", stem="bare"), ValueError, "stem"),
    ("net head", lambda: on.SolverNet("euler", head="linear"), ValueError, "head"),
    ("net project", lambda: on.SolverNet("euler", project="gelu"), ValueError, "project"),
    ("net h", lambda: on.SolverNet("euler", h=-1), ValueError, "h must be > 0"),
    ("net classes", lambda: on.SolverNet("euler", num_classes=-1), ValueError, ">= "),
    ("net channels", lambda: on.SolverNet("euler", in_channels=0), ValueError, ">= 1"),
    ("net unknown kwarg", lambda: on.SolverNet("euler", widht=3), TypeError, "widht"),
    (
        "net lm k nan",
        lambda: on.SolverNet("lm", depth=14, coefficients={"k": NAN}),
        ValueError,
        "must lie in",
    ),
    (
        "net lm k 1.5",
        lambda: on.SolverNet("lm", depth=8, learn=False, coefficients={"k": 1.5}),
        ValueError,
        "must lie in",
    ),
    (
        "net noise scheme",
        lambda: on.SolverNet("heun", depth=8, noise="gaussian"),
        ValueError,
        "cannot take noise",
    ),
    (
        "net noise name",
        lambda: on.SolverNet("euler_maruyama", depth=8, noise="shake"),
        ValueError,
        "did you mean 'shake_shake'",
    ),
    (
        "net shake tie",
        lambda: on.SolverNet("euler_maruyama", depth=8, noise="shake_shake", tie="stages"),
        ValueError,
        "deterministic",
    ),
    (
        "net reversible",
        lambda: on.SolverNet("euler", depth=8, reversible_backward=True),
        ValueError,
        "invertible scheme",
    ),
    ("input list", lambda: net()([[1.0]]), TypeError, "torch.Tensor"),
    ("input rank", lambda: net()(torch.zeros(3, 8, 8)), ValueError, "rank 4"),
    ("input channels", lambda: net()(torch.zeros(2, 1, 8, 8)), ValueError, "3 input channels"),
    (
        "input uint8",
        lambda: net()(torch.zeros(2, 3, 8, 8, dtype=torch.uint8)),
        TypeError,
        "floating input",
    ),
    (
        "input float64",
        lambda: net()(torch.zeros(2, 3, 8, 8, dtype=torch.float64)),
        TypeError,
        "parameters are torch.float32",
    ),
    ("input 0x0", lambda: net()(torch.zeros(2, 3, 0, 0)), ValueError, "at least 1"),
    ("field stride mlp", lambda: on.FIELDS["mlp"](4, stride=2), ValueError, "no spatial stride"),
    ("field channels", lambda: on.FIELDS["basic"](0), ValueError, ">= 1"),
    ("field dims", lambda: on.FIELDS["basic"](4, dims=3), ValueError, "dims must be 1"),
    ("hamiltonian stride", lambda: on.FIELDS["hamiltonian"](4, stride=2), ValueError, "stride 1"),
    (
        "hamiltonian tied",
        lambda: on.FIELDS["hamiltonian"](4, slot=None),
        ValueError,
        "cannot be shared",
    ),
    ("noise survival 0", lambda: on.StochasticDepth(survival=0.0), ValueError, "\\(0, 1\\]"),
    ("noise survival 2", lambda: on.StochasticDepth(survival=2.0), ValueError, "\\(0, 1\\]"),
    ("noise schedule", lambda: on.StochasticDepth(schedule="cosine"), ValueError, "schedule"),
    ("noise per", lambda: on.StochasticDepth(per="pixel"), ValueError, "per"),
    ("noise sigma", lambda: on.GaussianNoise(sigma=-1), ValueError, ">= 0"),
    ("noise shake flag", lambda: on.ShakeShake(independent_backward="yes"), TypeError, "bool"),
    ("noise source seed", lambda: on.NoiseSource(seed=-1), ValueError, ">= 0"),
    ("noise source generator", lambda: on.NoiseSource(generator=3), TypeError, "torch.Generator"),
    ("retime untied", lambda: net().retimed("rk4", 2), ValueError, "tie='all'"),
    ("retime steps", lambda: on.create_model("ode_resnet").retimed(steps=0), ValueError, ">= 1"),
]


@_cases(NETWORKS)
def test_networks(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_the_size_bound_counts_before_allocating(monkeypatch):
    """A network over MAX_PARAMETERS is refused after counting on the meta device: nothing of
    its size is allocated (the bound is lowered so the check runs on a small net)."""
    monkeypatch.setattr(nets_module, "MAX_PARAMETERS", 10_000)
    with pytest.raises(ValueError, match="more than odenets.networks.nets.MAX_PARAMETERS"):
        on.SolverNet("euler", depth=20, widths=(64, 64, 64))
    monkeypatch.setattr(nets_module, "MAX_PARAMETERS", 10**9)
    assert on.count_parameters(on.SolverNet("euler", depth=20, widths=(64, 64, 64))) > 10_000


# ------------------------------------------------------------------ unfolding and data

A = torch.randn(6, 4, dtype=torch.float64)

UNFOLD_AND_DATA = [
    ("problem type", lambda: unfold.UnfoldedSolver("ridge", 4), TypeError, "Problem"),
    (
        "steps 0",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 0),
        ValueError,
        ">= 1",
    ),
    (
        "period > steps",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, period=5),
        ValueError,
        "period must be <= steps",
    ),
    (
        "learn unknown",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, learn=("lamb",)),
        ValueError,
        "did you mean",
    ),
    (
        "h nan",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, init={"h": NAN}),
        ValueError,
        "finite",
    ),
    (
        "h negative",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, init={"h": -0.1}),
        ValueError,
        "h",
    ),
    (
        "h str",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, init={"h": "a"}),
        TypeError,
        "h",
    ),
    (
        "implicit unfold",
        lambda: unfold.UnfoldedSolver(unfold.RidgeRegression(A, lam=1.0), 4, "backward_euler"),
        ValueError,
        "usable",
    ),
    ("chebyshev bounds", lambda: unfold.chebyshev_steps(2.0, 1.0, 4), ValueError, "lmin <= lmax"),
    ("dataset unknown", lambda: load_dataset("digitz"), ValueError, "did you mean 'digits'"),
    ("prepare list", lambda: load_dataset("digits").prepare([1, 2]), TypeError, "tensor batch"),
    (
        "prepare channels",
        lambda: load_dataset("digits").prepare(torch.zeros(2, 3, 8, 8)),
        ValueError,
        "with 1 channel",
    ),
    (
        "prepare rank",
        lambda: load_dataset("digits").prepare(torch.zeros(2, 1, 8)),
        ValueError,
        "with 1 channel",
    ),
]


@_cases(UNFOLD_AND_DATA)
def test_unfolding_and_data(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_there_are_at_least_120_cases():
    assert len(RECORDS) + len(INTEGRATION) + len(NETWORKS) + len(UNFOLD_AND_DATA) >= 120
    assert math.isnan(NAN)
