"""Bad input gets a clear TypeError / ValueError naming what was expected and what came."""

from __future__ import annotations

import pytest
import torch

import odenets as on
from odenets.numerics.tableau import ButcherTableau, MultistepCoefficients


def f(t, y):
    return -y


Y0 = torch.ones(2, 3)


def test_unknown_scheme_lists_valid_names_and_closest():
    with pytest.raises(ValueError, match=r"unknown scheme 'rk5'; did you mean 'rk4'\?.*euler"):
        on.get_scheme("rk5")
    with pytest.raises(ValueError, match="did you mean 'heun'"):
        on.odeint(f, Y0, [0, 1], "huen")


def test_unknown_model_lists_valid_names_and_closest():
    with pytest.raises(ValueError, match=r"unknown model 'resnet21'; did you mean 'resnet20'"):
        on.create_model("resnet21")


def test_t_must_be_one_dimensional():
    with pytest.raises(ValueError, match=r"t must be 1-D, got shape \(2, 2\)"):
        on.odeint(f, Y0, torch.zeros(2, 2))


@pytest.mark.parametrize("grid", [[0.0, 0.5, 0.5, 1.0], [0.0, 1.0, 0.5], []])
def test_t_must_be_strictly_monotone_and_nonempty(grid):
    with pytest.raises(ValueError, match="t must"):
        on.odeint(f, Y0, grid)


def test_t_must_be_numbers():
    with pytest.raises(TypeError, match="t must be"):
        on.odeint(f, Y0, "0,1")


def test_y0_must_be_a_float_tensor():
    with pytest.raises(TypeError, match="y0 must be a torch.Tensor, got list"):
        on.odeint(f, [1.0, 2.0], [0, 1])
    with pytest.raises(TypeError, match="floating dtype"):
        on.odeint(f, torch.ones(3, dtype=torch.long), [0, 1])


def test_f_must_return_the_shape_of_y():
    with pytest.raises(ValueError, match=r"expected \(2, 3\), got \(2, 1\)"):
        on.odeint(lambda t, y: y.sum(-1, keepdim=True), Y0, [0, 1], "euler")
    with pytest.raises(TypeError, match="must return a torch.Tensor"):
        on.odeint(lambda t, y: 1.0, Y0, [0, 1], "euler")
    with pytest.raises(TypeError, match="f must be callable"):
        on.odeint("f", Y0, [0, 1])


def test_depth_that_does_not_fit_says_which_do():
    with pytest.raises(ValueError, match=r"depth 21 .* must be 6n\+2, e\.g\. 8, 14, 20, 26"):
        on.SolverNet("euler", depth=21)
    with pytest.raises(ValueError, match=r"must be 9n\+2, e\.g\. 11, 20, 29"):
        on.SolverNet("euler", depth=21, field="bottleneck")


def test_unknown_keyword_arguments_are_type_errors():
    with pytest.raises(TypeError, match="widht"):
        on.SolverNet("euler", widht=3)
    with pytest.raises(TypeError, match="depht"):
        on.create_model("resnet20", depht=32)
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['kk'\]; allowed: \['k'\]"):
        on.odeint(f, Y0, [0, 1, 2], "lm", coefficients={"kk": 0.3})
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['k'\]; allowed: none"):
        on.odeint(f, Y0, [0, 1], "rk4", coefficients={"k": 0.3})
    with pytest.raises(TypeError, match=r"\['k'\] are coefficients of scheme 'lm', not options"):
        on.odeint(f, Y0, [0, 1], "lm", options={"k": 0.3})
    with pytest.raises(TypeError, match=r"unexpected option\(s\) \['solvr'\]"):
        on.odeint(f, Y0, [0, 1], "backward_euler", options={"solvr": "picard"})


def test_duplicate_registration_is_rejected():
    with pytest.raises(ValueError, match="'euler' is already registered"):
        on.register_scheme(on.get_scheme("euler"))

    def resnet20():
        raise AssertionError("must not be called")

    with pytest.raises(ValueError, match="'resnet20' is already registered"):
        on.register_model(resnet20)


def test_wrong_input_channels_or_rank():
    net = on.create_model("resnet20")
    with pytest.raises(ValueError, match=r"expects 3 input channels, got 1"):
        net(torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"rank 4 \(batch, channels, height, width\), got shape"):
        net(torch.randn(3, 8, 8))
    net1d = on.SolverNet("euler", depth=8, in_channels=2, dims=1)
    with pytest.raises(ValueError, match=r"rank 3 \(batch, channels, length\)"):
        net1d(torch.randn(2, 2, 8, 8))


def test_invalid_tableaux_are_rejected_at_construction():
    with pytest.raises(ValueError, match=r"row sum of a\[1\] must equal c\[1\]"):
        ButcherTableau(a=[[], [0.5]], b=[0, 1], c=[0, 1])
    with pytest.raises(ValueError, match="weights b must sum to 1"):
        ButcherTableau(a=[[], [1]], b=[0.5, 0.6], c=[0, 1])
    with pytest.raises(ValueError, match="one node per stage"):
        ButcherTableau(a=[[], [1]], b=[0.5, 0.5], c=[0])
    with pytest.raises(TypeError, match="only numbers"):
        ButcherTableau(a=[[], ["x"]], b=[0.5, 0.5], c=[0, 1])


def test_multistep_coefficients_must_be_consistent_and_zero_stable():
    with pytest.raises(ValueError, match="must sum to 1"):
        MultistepCoefficients(a=(1, 0.1), b=(1, 0))
    with pytest.raises(ValueError, match="consistency"):
        MultistepCoefficients(a=(1, 0), b=(1, 1))
    with pytest.raises(ValueError, match="not zero-stable"):  # rho = (z - 1)(z + 1.5)
        MultistepCoefficients(a=(-0.5, 1.5), b=(2.5, 0))


@pytest.mark.parametrize("k", [-1.0, 1.5, float("nan"), float("inf")])
def test_lm_coefficient_outside_the_stable_range(k):
    with pytest.raises(ValueError, match=r"must lie in \(-1, 1\] \(consistent and zero-stable"):
        on.odeint(f, Y0, [0, 1, 2], "lm", coefficients={"k": k})
    with pytest.raises(ValueError, match=r"must lie in \(-1, 1\]"):
        on.SolverNet("lm", depth=8, learn=False, coefficients={"k": k})


def test_lm_coefficient_of_the_wrong_type():
    with pytest.raises(TypeError, match="coefficient k must be a number, got str"):
        on.odeint(f, Y0, [0, 1, 2], "lm", coefficients={"k": "a"})


def test_scheme_records_are_validated():
    tableau = on.ButcherTableau(a=[[1]], b=[1], c=[1])  # backward Euler's
    with pytest.raises(ValueError, match="family 'explicit_rk' needs a strictly lower-triangular"):
        on.Scheme("bad_euler", "explicit_rk", 1, 1, "-", "-", tableau)
    ok = on.get_scheme("euler").tableau
    for order in (float("inf"), float("nan"), 0, -1):
        with pytest.raises(ValueError, match="order must be a finite positive number"):
            on.Scheme("bad_order", "explicit_rk", order, 1, "-", "-", ok)
    with pytest.raises(ValueError, match="unknown scheme family 'explicit'"):
        on.Scheme("bad_family", "explicit", 1, 1, "-", "-", ok)


def test_multistep_needs_a_uniform_grid():
    with pytest.raises(ValueError, match="needs a uniform grid"):
        on.odeint(f, Y0, [0.0, 0.1, 0.3], "ab2")


def test_adjoint_needs_torchdiffeq_and_a_module():
    with pytest.raises(ValueError, match="adjoint=True needs backend='torchdiffeq'"):
        on.odeint(f, Y0, [0, 1], adjoint=True)
    with pytest.raises(TypeError, match="needs f to be a torch.nn.Module"):
        on.odeint(f, Y0, [0, 1], "dopri5", backend="torchdiffeq", adjoint=True)
    with pytest.raises(ValueError, match="unknown torchdiffeq method 'dopri'"):
        on.odeint(f, Y0, [0, 1], "dopri", backend="torchdiffeq")
    with pytest.raises(ValueError, match="unknown backend"):
        on.odeint(f, Y0, [0, 1], backend="scipy")


def test_bad_network_options():
    with pytest.raises(ValueError, match=r"unknown tie 'stage'; did you mean 'stages'"):
        on.SolverNet("rk4", tie="stage")
    with pytest.raises(ValueError, match=r"unknown field 'basci'; did you mean 'basic'"):
        on.SolverNet("euler", field="basci")
    with pytest.raises(ValueError, match="dims must be 1"):
        on.SolverNet("euler", dims=3)
    with pytest.raises(ValueError, match="h must be > 0"):
        on.SolverNet("euler", h=0)
    with pytest.raises(ValueError, match="reads 2 field slot\\(s\\) per step: give one module"):
        on.SchemeBlock("heun", [torch.nn.Identity()] * 3)
    with pytest.raises(ValueError, match="an MLP field has no spatial stride"):
        on.FIELDS["mlp"](4, stride=2)
    with pytest.raises(ValueError, match="no coefficients to learn"):
        on.SchemeBlock("euler", torch.nn.Identity(), learn=True)
