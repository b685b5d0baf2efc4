"""``odenets unfold``: JSON-only stdout, tables, plots, errors as one line with exit 2."""

import json

import pytest

from odenets.unfold import experiments
from odenets.workflow.cli import main
from odenets.workflow.cmd_unfold import plot_result, report


def test_seed_json_is_the_only_stdout(capsys):
    assert main(["unfold", "seed", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["plain_iterations"] == 24
    assert isinstance(data["unfolded_iterations"], int)
    assert len(data["learned_steps"]) == 5


def test_seed_table_and_plot(capsys, tmp_path):
    png = tmp_path / "seed.png"
    assert main(["unfold", "seed", "--quiet", "--plot", str(png)]) == 0
    assert "24" in capsys.readouterr().out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_ridge_report_keys_and_plot(tmp_path):
    # a tiny instance with the CLI's shape of output: t up to 50, every method's curve
    r = experiments.ridge_experiment(
        n=4, m=8, steps=50, inner_steps=1, final_steps=0, eval_batch=10, batch=10
    )
    assert 50 in r["t"]
    assert {"du_gd", "du_gd_lam", "constant", "chebyshev", "cg"} <= set(r["mse"])
    assert all(len(c) == 51 for c in r["mse"].values())
    assert len(r["steps"]) == 50 and len(r["chebyshev_steps"]) == 4
    json.dumps(r)
    text = report("ridge", r)
    assert "t=50" in text and "Chebyshev" in text
    plot_result("ridge", r, str(tmp_path / "r.svg"))
    assert b"<svg" in (tmp_path / "r.svg").read_bytes()[:1000]


def test_bad_cli_input(capsys):
    assert main(["unfold", "ridge-regression"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err
    assert main(["unfold", "seed", "--plot", "out.txt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".png" in err and ".pdf" in err and ".svg" in err


@pytest.mark.parametrize("name", ["lasso", "quadratic"])
def test_reports_render(name):
    run = getattr(experiments, f"{name}_experiment")
    kw = {"inner_steps": 1, "steps": 3}
    kw.update(
        {"m": 10, "n": 20, "ista_iterations": 20, "eval_batch": 5}
        if name == "lasso"
        else {"n": 5, "final_steps": 0}
    )
    r = run(**kw)
    json.dumps(r)
    assert "t=2" in report(name, r)
