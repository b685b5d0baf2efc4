"""Deep unfolding: optimisers unrolled into networks whose steps are those of a registered
scheme on the gradient flow ``F = -grad f`` of a known objective, with only the step
parameters learned.

``UnfoldedSolver(problem, steps, "euler")`` is DU-GD (learned step ``h_t`` per iteration,
optionally shared with a period), ``"lm"`` is the heavy ball, any other explicit scheme works
unchanged, and a :class:`Lasso` problem turns each step into forward-backward splitting
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
    Batch,
    Lasso,
    LeastSquares,
    Objective,
    Problem,
    Quadratic,
    RidgeRegression,
    soft_threshold,
)
from .solver import LEARNABLE, UnfoldedSolver
from .training import TrainingHistory, mse, train_end_to_end, train_incremental

__all__ = [
    "LEARNABLE",
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
    "mse",
    "soft_threshold",
    "train_end_to_end",
    "train_incremental",
]
