"""Deep-unfolded gradient descent on ridge regression, next to Chebyshev steps.

A DU-GD network is `steps` Euler steps on the gradient flow of f(x) = 1/2||Ax - y||^2 +
lam/2 ||x||^2 with one learned step size per iteration (shared with period 4). It is trained
incrementally and compared with the constant optimal step and Chebyshev steps.

    python examples/unfold_ridge.py
"""

import torch

from odenets import unfold

gen = torch.Generator().manual_seed(0)
A = torch.randn(100, 50, generator=gen, dtype=torch.float64)
problem = unfold.RidgeRegression(A, lam=3.0)
lmin, lmax = problem.spectrum()

solver = unfold.UnfoldedSolver(
    problem,
    steps=24,
    scheme="euler",
    period=4,
    learn=("h",),
    init={"h": unfold.constant_step(lmin, lmax)},
)
history = unfold.train_incremental(
    solver, lambda: problem.sample(100, generator=gen), inner_steps=30, lr=3e-4, final_steps=200
)

test = problem.sample(500, generator=torch.Generator().manual_seed(1))
baselines = {
    "constant 2/(lmin+lmax)": unfold.constant_solver(problem, 24),
    "Chebyshev (period 4)": unfold.chebyshev_solver(problem, 24, period=4),
    "DU-GD (learned)": solver,
}
with torch.no_grad():
    for name, s in baselines.items():
        print(f"{name:24s} MSE at t=24: {float(unfold.mse(s(test.y), test.target)):.3g}")
print("learned steps  ", [round(h, 5) for h in solver.h.tolist()])
print("Chebyshev steps", [round(h, 5) for h in unfold.chebyshev_steps(lmin, lmax, 4).tolist()])
print(f"trained in {history.seconds:.1f} s")
