"""Deep unfolding: optimisers unrolled into networks whose steps are those of a registered
scheme on the gradient flow ``F = -grad f`` of a known objective, with only the step
parameters learned.

``UnfoldedSolver(problem, steps, "euler")`` is DU-GD (learned step ``h_t`` per iteration,
optionally shared with a period, per quantity), ``"lm"`` and ``"momentum"`` are the heavy ball
(two-step and velocity form), any other explicit scheme works unchanged, and a
:class:`Lasso` problem turns each step into forward-backward splitting
(unfolded ISTA). Baselines (constant step, Chebyshev steps, heavy ball, conjugate gradient) run
on the same problem instances.
"""

from .baselines import (
    chebyshev_order,
    chebyshev_rate,
    chebyshev_solver,
    chebyshev_steps,
    conjugate_gradient,
    constant_solver,
    constant_step,
    heavy_ball_parameters,
    heavy_ball_solver,
)
from .problems import (
    DATA,
    Batch,
    Lasso,
    LeastSquares,
    Objective,
    Problem,
    Quadratic,
    RidgeRegression,
    soft_threshold,
)
from .solver import LEARNABLE, MOMENTUM_COEFFICIENTS, UnfoldedSolver, momentum_coefficient
from .training import UPDATES, TrainingHistory, mse, train_end_to_end, train_incremental

__all__ = [
    "DATA",
    "LEARNABLE",
    "MOMENTUM_COEFFICIENTS",
    "UPDATES",
    "Batch",
    "Lasso",
    "LeastSquares",
    "Objective",
    "Problem",
    "Quadratic",
    "RidgeRegression",
    "TrainingHistory",
    "UnfoldedSolver",
    "chebyshev_order",
    "chebyshev_rate",
    "chebyshev_solver",
    "chebyshev_steps",
    "conjugate_gradient",
    "constant_solver",
    "constant_step",
    "heavy_ball_parameters",
    "heavy_ball_solver",
    "momentum_coefficient",
    "mse",
    "soft_threshold",
    "train_end_to_end",
    "train_incremental",
]
