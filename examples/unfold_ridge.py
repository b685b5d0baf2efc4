"""Deep-unfolded gradient descent on ridge regression: the book's recipe and odenets', next to
Chebyshev steps.

A DU-GD network is `steps` Euler steps on the gradient flow of f(x) = 1/2||Ax - y||^2 +
lam/2 ||x||^2 with learned step sizes shared with period 4 (and, in the second variant, a learned
ridge weight |xi_t|). Both recipes are options of the same solver and trainer:

* Wadayama's chapter-3 notebook (DU-GD-Ridge): data y ~ N(0, I), steps from 0, xi per
  iteration, one Adam per quantity kept for the whole run (lr 1e-4 / 1e-2, eps 1e-8), per
  mini-batch a step of h and then one of xi;
* odenets': data y = A x, steps from 2/(lmin+lmax), xi of period 4, Adam reset at every depth
  (eps 1e-30), joint steps, and a final phase at full depth with decaying learning rates.

    python examples/unfold_ridge.py            # the book's sizes (a few minutes on 2 cores)
    python examples/unfold_ridge.py --smoke    # a tiny instance, a few seconds
"""

import argparse

import torch

from odenets import unfold

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds")
args = parser.parse_args()
# the book's sizes: A 100 x 50, lam 3, 50 iterations, batches of 100
m, n, steps, batch = (20, 10, 8, 20) if args.smoke else (100, 50, 50, 100)

gen = torch.Generator().manual_seed(0)
A = torch.randn(m, n, generator=gen, dtype=torch.float64)
problem = unfold.RidgeRegression(A, lam=3.0)
lmin, lmax = problem.spectrum()

RECIPES = {
    "book": {
        "data": "gaussian",
        "start": 0.0,
        "lam_period": None,
        "train": {"inner_steps": 50, "lr": 1e-4, "lr_lam": 1e-2, "eps": 1e-8, "reset": False},
        "update": "alternating",
    },
    "odenets": {
        "data": "signal",
        "start": unfold.constant_step(lmin, lmax),
        "lam_period": 4,
        "train": {"inner_steps": 30, "lr": 3e-4, "lr_lam": 1e-4, "final_steps": 300},
        "update": "joint",
    },
}
if args.smoke:
    for recipe in RECIPES.values():
        recipe["train"] = {**recipe["train"], "inner_steps": 5}
        recipe["train"].pop("final_steps", None)

for name, recipe in RECIPES.items():
    data = recipe["data"]
    test = problem.sample(500, generator=torch.Generator().manual_seed(1), data=data)
    solvers = {
        "constant 2/(lmin+lmax)": unfold.constant_solver(problem, steps),
        "Chebyshev (period 4)": unfold.chebyshev_solver(problem, steps, period=4),
    }
    for learn in (("h",), ("h", "lam")):
        solver = unfold.UnfoldedSolver(
            problem,
            steps,
            "euler",
            period={"h": 4, "lam": recipe["lam_period"]} if "lam" in learn else {"h": 4},
            learn=learn,
            init={"h": recipe["start"]},
        )
        history = unfold.train_incremental(
            solver,
            lambda d=data: problem.sample(batch, generator=gen, data=d),
            update=recipe["update"],
            **recipe["train"],
        )
        label = "DU-GD (learned h)" if learn == ("h",) else "DU-GD (learned h, lam)"
        solvers[label] = solver
        print(f"[{name}] {label}: trained in {history.seconds:.1f} s")
    marks = [t for t in (10, 20, steps) if t <= steps]
    print(f"[{name}] data {data!r}: MSE ||x_t - x_opt||^2 / K at t = {marks}")
    with torch.no_grad():
        for label, s in solvers.items():
            traj = s(test.y, trajectory=True)
            errors = ", ".join(f"{float(unfold.mse(traj[t], test.target)):.3g}" for t in marks)
            print(f"  {label:24s} {errors}")
    learned = [round(h, 5) for h in solvers["DU-GD (learned h)"].h.tolist()]
    print(f"  learned h (one period)  {learned}")
print(
    "Chebyshev steps (T = 4)  ",
    [round(h, 5) for h in unfold.chebyshev_steps(lmin, lmax, 4).tolist()],
)
