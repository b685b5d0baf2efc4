"""``import odenets`` is lazy (PEP 562): ``odenets --version`` and ``odenets --help`` import no
torch, while every public name stays importable as before."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_torch(flag):
    proc = _run(
        "import sys\n"
        "import odenets.workflow.cli as cli\n"
        "try:\n"
        f"    cli.main([{flag!r}])\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "heavy = sorted(m for m in ('torch', 'numpy', 'matplotlib') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    assert proc.returncode == 0, proc.stderr
    if flag == "--version":
        assert proc.stdout.startswith("odenets ")
    else:
        assert "batch-sweep" in proc.stdout and "--plugin MODULE" in proc.stdout


def test_import_odenets_imports_no_torch():
    proc = _run(
        "import sys\n"
        "import odenets as on\n"
        "assert on.__version__ and 'unfold' in dir(on) and 'SolverNet' in dir(on)\n"
        "assert 'torch' not in sys.modules\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_every_public_name_resolves_to_its_definition():
    import odenets
    import odenets.networks.nets
    import odenets.unfold

    for name in odenets.__all__:
        value = getattr(odenets, name)
        assert value is not None, name
    assert set(odenets.__all__) <= set(dir(odenets))
    assert odenets.SolverNet is odenets.networks.nets.SolverNet
    assert odenets.unfold is sys.modules["odenets.unfold"]


def test_from_imports_and_unknown_names():
    from odenets import SolverNet, odeint, unfold  # the forms users write

    assert SolverNet.__name__ == "SolverNet" and callable(odeint)
    assert unfold.RidgeRegression.__name__ == "RidgeRegression"
    import odenets

    with pytest.raises(AttributeError, match="no attribute 'SolverNett'"):
        odenets.SolverNett  # noqa: B018
    with pytest.raises(ImportError):
        from odenets import not_a_name  # noqa: F401


def test_top_level_help_matches_every_subcommand():
    """``odenets --help`` lists each subcommand from a table (so no subcommand is built);
    the table says what the subcommand's own parser says."""
    from odenets.workflow.cli import _COMMANDS, build_parser

    def listed(parser):
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return [(c.dest, c.help) for c in sub._get_subactions()]

    eager, lazy = listed(build_parser()), listed(build_parser(lazy=True))
    assert eager == lazy == [(name, text) for name, (text, _) in _COMMANDS.items()]


def test_a_lazy_parser_builds_only_the_chosen_subcommand():
    from odenets.workflow.cli import build_parser

    parser = build_parser(lazy=True)
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    args = parser.parse_args(["orders", "--steps", "10,20", "--plugin", "x"])
    assert args.command == "orders" and args.steps == "10,20"
    assert args.plugins_after_command == ["x"] and args.plugins is None
    assert "orders" not in sub._pending and "train" in sub._pending
