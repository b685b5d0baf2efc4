"""`odenets orders` / convergence_study: the measured orders, their JSON, table and plot."""

from __future__ import annotations

import json

import pytest
import torch

import odenets as on
from odenets.numerics.convergence import PROBLEMS, convergence_study, problem_for
from odenets.workflow.cli import main


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_known_solutions_solve_their_equation(name):
    """The closed form satisfies y' = f(t, y) (central differences, float64)."""
    p = PROBLEMS[name]
    for t in (0.3, 0.8):
        eps = 1e-5
        derivative = (p.exact(t + eps) - p.exact(t - eps)) / (2 * eps)
        rhs = p.f(torch.tensor(t, dtype=torch.float64), p.exact(t))
        torch.testing.assert_close(derivative, rhs, rtol=0, atol=1e-8)


def test_study_measures_every_declared_order():
    """By default each scheme is measured on the problem class its order is declared for."""
    rows = convergence_study()
    assert [r["scheme"] for r in rows] == on.list_schemes()
    for r in rows:
        assert r["problem"] == problem_for(r["scheme"])
        assert r["measured_order"] == pytest.approx(r["declared_order"], abs=0.3), r["scheme"]
        assert r["errors"] == sorted(r["errors"], reverse=True)


def test_orders_cli_json_table_and_plot(tmp_path, capsys):
    pdf = tmp_path / "orders.pdf"  # any format matplotlib writes (tests/test_figures.py)
    assert main(["orders", "--schemes", "euler,rk4", "--json", "--plot", str(pdf)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [r["scheme"] for r in payload["results"]] == ["euler", "rk4"]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert main(["orders", "--schemes", "heun"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:5] == ["scheme", "family", "problem", "declared", "measured"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["orders", "--schemes", "rk5"], "did you mean 'rk4'"),
        (["orders", "--problem", "logistc"], "did you mean 'logistic'"),
        (["orders", "--steps", "10"], "at least two increasing"),
        (["orders", "--steps", "10,x"], "comma-separated integers"),
        (["orders", "--problem", "bogus"], "choose from 'auto', 'nonlinear', 'separable'"),
        (["orders", "--plot", "out.pdff"], "did you mean .pdf?"),
        (["orders", "--plot", "out.txt"], "valid suffixes: "),
    ],
)
def test_orders_cli_bad_input(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
