"""Scheme transfer: re-timed views of weight-tied nets integrate the same F over the same
stage time; the transfer table and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import train_argv

import odenets as on
from odenets.networks.retime import retime, stage_steps
from odenets.workflow.cli import main
from odenets.workflow.data import load_dataset
from odenets.workflow.train import evaluate
from odenets.workflow.transfer import transfer


@pytest.fixture
def tied():
    torch.manual_seed(0)
    net = on.SolverNet("rk4", depth=14, widths=(4, 8, 8), in_channels=1, tie="all", h=0.5)
    with torch.no_grad():  # leave the zero-initialised identity start: random, non-trivial F
        for p in net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return net.eval()


def _stage_trajectory(net, x, integrate):
    x = net.stem(x)
    for stage in net.stages:
        if stage.transition is not None:
            x = stage.transition(x)
        if len(stage.blocks):
            field = stage.blocks[0].fields[0]
            x = integrate(field, x, sum(b.h for b in stage.blocks))
    return net.fc(torch.relu(net.head_norm(x)).flatten(2).mean(-1))


@torch.no_grad()
@pytest.mark.parametrize("scheme", ["euler", "heun", "rk4"])
@pytest.mark.parametrize("steps", [1, 3])
def test_retimed_net_integrates_the_tied_field_over_the_stage_time(tied, scheme, steps):
    x = torch.randn(3, 1, 8, 8)
    view = tied.retimed(scheme, steps)
    assert stage_steps(view) == [steps] * 3 and view.scheme.name == scheme

    def integrate(field, y, total):
        grid = torch.linspace(0, total, steps + 1)
        return on.odeint(lambda t, z: field(z), y, grid, scheme=scheme)[-1]

    expected = _stage_trajectory(tied, x, integrate)
    assert torch.allclose(view(x), expected, atol=1e-5)
    if scheme == "euler":  # and by hand

        def by_hand(field, y, total):
            for _ in range(steps):
                y = y + (total / steps) * field(y)
            return y

        assert torch.allclose(view(x), _stage_trajectory(tied, x, by_hand), atol=1e-5)


def test_view_shares_parameters_and_leaves_the_net_alone(tied):
    before = [b.h for b in tied.blocks]
    view = retime(tied, "euler", 5)
    assert {p.data_ptr() for p in view.parameters()} <= {p.data_ptr() for p in tied.parameters()}
    assert stage_steps(tied) == [2, 1, 1] and [b.h for b in tied.blocks] == before
    assert sum(b.h for b in view.stages[0].blocks) == pytest.approx(2 * 0.5)
    assert retime(tied) is tied and retime(tied, "rk4", None) is tied


def test_retime_refuses_untied_nets():
    with pytest.raises(ValueError, match="tie='all'"):
        retime(on.SolverNet("euler", depth=8, widths=(4, 8, 8), in_channels=1), "heun", 2)
    with pytest.raises(ValueError, match="transition"):
        retime(_only_transitions(), "heun", 2)


def _only_transitions():
    net = on.SolverNet("euler", depth=8, widths=(4, 8, 8), in_channels=1, tie="all")
    net.stages[0].blocks = torch.nn.ModuleList()
    return net


def test_transfer_table_contains_the_training_configuration(tied):
    ds = load_dataset("digits")
    rows = transfer(tied, ds, ["euler", "rk4"], [1, 2])
    assert [(r["scheme"], r["steps"]) for r in rows] == [
        ("euler", 1),
        ("euler", 2),
        ("rk4", 1),
        ("rk4", 2),
    ]
    rk4_1 = rows[2]
    assert rk4_1["f_evals"] == 2 + 3 * 4  # two transitions + one rk4 step per stage
    assert rows[0]["f_evals"] == 2 + 3
    own = retime(tied, "rk4", 1)
    assert rk4_1["test_accuracy"] == evaluate(own, ds)["accuracy"]


def test_cli_transfer_on_a_trained_tied_model(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(train_argv(out, "ode_resnet", depth=14)) == 0
    capsys.readouterr()
    argv = ["transfer", str(out / "last.pt"), "--schemes", "euler,heun", "--steps", "1,2"]
    assert main([*argv, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["trained"] == {"scheme": "rk4", "steps": [2, 1, 1]}
    assert len(payload["results"]) == 4
    assert all(0 <= r["test_accuracy"] <= 1 for r in payload["results"])
    assert main(["transfer", str(out / "last.pt"), "--steps", "2"]) == 0
    table = capsys.readouterr().out
    assert "| rk4" in table and "2 steps" in table


def test_cli_transfer_of_an_untied_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    main(train_argv(out, "resnet20"))
    capsys.readouterr()
    assert main(["transfer", str(out / "last.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tie='all'" in err


def test_cli_transfer_of_an_incremental_checkpoint_starts_from_its_final_grid(tmp_path, capsys):
    out = tmp_path / "inc"
    argv = train_argv(out, "ode_resnet", "--incremental", "1,4", "--json", depth=14, epochs=2)
    assert main(argv) == 0
    final = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    argv = ["transfer", str(out / "last.pt"), "--schemes", "rk4", "--steps", "4", "--json"]
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["trained"] == {"scheme": "rk4", "steps": [4, 4, 4]}
    assert payload["results"][0]["test_accuracy"] == pytest.approx(final["test_accuracy"])
