"""``odenets unfold``: JSON-only stdout, tables, plots, errors as one line with exit 2."""

import functools
import json

import pytest

from odenets.unfold import experiments
from odenets.workflow.cli import main
from odenets.workflow.cmd_unfold import parse_settings, plot_result, report


@pytest.fixture
def quick_seed(monkeypatch):
    """The CLI's seed run with 20 Adam steps per stage (its training is tested elsewhere)."""
    quick = functools.partial(experiments.seed_experiment, inner_steps=20)
    monkeypatch.setattr(experiments, "seed_experiment", quick)


def test_seed_json_is_the_only_stdout(capsys, quick_seed):
    assert main(["unfold", "seed", "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["plain_iterations"] == 24
    assert isinstance(data["unfolded_iterations"], int)
    assert len(data["learned_steps"]) == 5


def test_seed_table_and_plot(capsys, tmp_path, quick_seed):
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
    assert "t=50" in text and "Chebyshev" in text and "odenets h" in text
    plot_result("ridge", r, str(tmp_path / "r.svg"))
    assert b"<svg" in (tmp_path / "r.svg").read_bytes()[:1000]


def test_ridge_both_recipes_side_by_side(capsys, tmp_path):
    tiny = ["n=4", "m=8", "steps=8", "inner_steps=1", "final_steps=0", "eval_batch=10"]
    argv = ["unfold", "ridge", "--json", "--quiet", *(a for s in tiny for a in ("--set", s))]
    assert main(argv) == 0
    both = json.loads(capsys.readouterr().out)
    assert list(both["recipes"]) == ["book", "odenets"]
    book, ours = both["recipes"]["book"], both["recipes"]["odenets"]
    assert (book["recipe"]["data"], ours["recipe"]["data"]) == ("gaussian", "signal")
    assert book["recipe"]["steps"] == 8 and book["parameters"]["du_gd_lam"] == 4 + 8
    text = report("ridge", both)
    for needle in ("y ~ N(0, I)", "y = A x", "t=0", "t=8", "book h", "odenets h", "|xi_t|"):
        assert needle in text
    assert "kept (one Adam)" in text and "reset" in text
    plot_result("ridge", both, str(tmp_path / "both.png"))
    assert (tmp_path / "both.png").read_bytes()[:4] == b"\x89PNG"
    assert main([*argv, "--recipe", "book"]) == 0
    assert json.loads(capsys.readouterr().out)["recipe"]["name"] == "book"


def test_recipe_settings_parse_to_typed_values():
    got = parse_settings(["eps=1e-8", "reset=false", "lam_period=none", "steps=7", "data=gaussian"])
    assert got == {"eps": 1e-8, "reset": False, "lam_period": None, "steps": 7, "data": "gaussian"}


def test_bad_cli_input(capsys):
    assert main(["unfold", "ridge-regression"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err
    assert main(["unfold", "seed", "--plot", "out.txt"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".png" in err and ".pdf" in err and ".svg" in err
    bad = {
        ("seed", "--recipe", "book"): "apply to 'unfold ridge' only",
        ("ridge", "--recipe", "bok"): "did you mean 'book'",
        ("ridge", "--set", "epsilon=1e-8"): "did you mean 'eps'",
        ("ridge", "--set", "eps"): "expects KEY=VALUE",
        ("ridge", "--set", "steps=many"): "--set steps: expected int",
        ("ridge", "--set", "reset=maybe"): "--set reset: expected bool",
        ("ridge", "--set", "data=gauss"): "did you mean 'gaussian'",
        ("ridge", "--set", "eps=0"): "eps must be > 0",
    }
    for args, needle in bad.items():
        assert main(["unfold", *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err, (args, err)


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
