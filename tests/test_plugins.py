"""The plugin route: ``odenets --plugin MODULE`` and the ``odenets.plugins`` entry-point group
let the command line see schemes, fields and presets a user registers. The plugin is written
by the test; every registry is restored afterwards."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

import odenets as on
from odenets.networks.fields import unregister_field
from odenets.networks.presets import unregister_model
from odenets.numerics.schemes import unregister_scheme
from odenets.workflow import plugins
from odenets.workflow.cli import main

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--depth", "8", "--widths", "4,8,8", "--epochs", "1", "--no-progress"]

#: A plugin as a user would write it: Shu–Osher's SSPRK3, a field and a preset.
PLUGIN = '''
"""A test plugin: the SSPRK3 scheme, a pre-activation field without BN and a preset."""
import odenets as on
from torch import nn

on.register_scheme(
    on.Scheme(
        name="ssprk3",
        family="explicit_rk",
        order=3,
        stages=3,
        architecture="three-stage strong-stability-preserving RK block",
        reference="Shu & Osher 1988",
        tableau=on.ButcherTableau(
            a=[[], [1.0], [0.25, 0.25]], b=[1 / 6, 1 / 6, 2 / 3], c=[0.0, 1.0, 0.5]
        ),
    )
)


class PlugField(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 without normalisation (test plugin); 2 layers."""

    def __init__(self, in_channels, out_channels=None, *, stride=1, dims=2):
        super().__init__()
        out_channels = out_channels or in_channels
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        self.body = nn.Sequential(
            nn.ReLU(), conv(in_channels, out_channels, 3, stride, 1),
            nn.ReLU(), conv(out_channels, out_channels, 3, 1, 1),
        )

    def forward(self, x):
        return self.body(x)


on.register_field("plugfield", PlugField)


@on.register_model
def ssprk3_plugnet8(**overrides):
    """SSPRK3 net-8 on the plugin's field (test plugin)."""
    recipe = {"scheme": "ssprk3", "depth": 8, "widths": (4, 8, 8), "field": "plugfield"}
    return on.SolverNet(**{**recipe, **overrides})
'''

REGISTERED = {"scheme": "ssprk3", "field": "plugfield", "model": "ssprk3_plugnet8"}


@contextmanager
def _plugin_env(tmp_path: Path, monkeypatch, name: str = "odenets_test_plugin", text=PLUGIN):
    """``name`` importable from ``tmp_path``; afterwards the registries, the record of loaded
    entry points and ``sys.modules`` (for the modules under ``tmp_path``) are as before."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugins, "_LOADED", set())
    before = (set(on.list_schemes()), set(on.list_fields()), set(on.list_models()))
    try:
        yield name
    finally:
        for scheme in set(on.list_schemes()) - before[0]:
            unregister_scheme(scheme)
        for field in set(on.list_fields()) - before[1]:
            unregister_field(field)
        for model in set(on.list_models()) - before[2]:
            unregister_model(model)
        for module, value in list(sys.modules.items()):  # the plugins written here only
            if str(getattr(value, "__file__", None) or "").startswith(str(tmp_path)):
                del sys.modules[module]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("odenets: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_plugin_module_is_listed_and_usable_by_compare(tmp_path, monkeypatch, capsys):
    with _plugin_env(tmp_path, monkeypatch) as plugin:
        assert "ssprk3" not in on.list_schemes()
        assert main(["--plugin", plugin, "list"]) == 0
        out = capsys.readouterr().out
        for name in REGISTERED.values():
            assert f"\n{name} " in out
        assert "three-stage strong-stability-preserving RK block" in out

        argv = ["--plugin", plugin, "compare", "--schemes", "ssprk3", "--json", *TINY]
        assert main([*argv, "--models", "ssprk3_plugnet8"]) == 0
        rows = json.loads(capsys.readouterr().out)["results"]
        assert [r["scheme"] for r in rows] == ["ssprk3", "ssprk3"]
        assert rows[1]["model"] == "ssprk3_plugnet8"
        net = on.SolverNet("ssprk3", depth=8, widths=(4, 8, 8), in_channels=1)
        calls = on.count_field_calls(net, torch.zeros(1, 1, 8, 8))
        assert rows[0]["f_evals"] == calls == 3 + 1 + 1  # one SSPRK3 step, two transitions
        assert rows[0]["params"] == on.count_parameters(net)
        preset = on.create_model("ssprk3_plugnet8", in_channels=1)
        assert rows[1]["params"] == on.count_parameters(preset)
        assert all(0 <= r["test_accuracy"] <= 1 for r in rows)
    assert "ssprk3" not in on.list_schemes()


def test_plugin_after_the_command_and_twice(tmp_path, monkeypatch, capsys):
    with _plugin_env(tmp_path, monkeypatch) as plugin:
        assert main(["list", "--plugin", plugin, "--plugin", plugin]) == 0  # imported once
        assert "\nssprk3 " in capsys.readouterr().out
        assert main(["--plugin", plugin, "list", "--plugin", plugin]) == 0


def test_plugin_given_as_a_file_path(tmp_path, monkeypatch, capsys):
    with _plugin_env(tmp_path, monkeypatch, name="my_schemes") as plugin:
        monkeypatch.chdir(tmp_path)
        assert main(["--plugin", f"./{plugin}.py", "list"]) == 0
        assert "\nplugfield " in capsys.readouterr().out


def test_unknown_plugin_is_one_line_and_exit_2(capsys):
    assert main(["--plugin", "no_such_odenets_plugin", "list"]) == 2
    err = _one_line_error(capsys)
    assert "no module named 'no_such_odenets_plugin'" in err and "PYTHONPATH" in err
    assert main(["list", "--plugin", "./missing_plugin.py"]) == 2
    assert "no such file" in _one_line_error(capsys)


def test_plugin_that_raises_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    text = 'import odenets as on\non.register_scheme(on.get_scheme("euler"))\n'
    with _plugin_env(tmp_path, monkeypatch, name="dup_plugin", text=text) as plugin:
        assert main(["--plugin", plugin, "list"]) == 2
        err = _one_line_error(capsys)
        assert "--plugin dup_plugin: importing it failed: ValueError" in err
        assert "euler" in err


def test_plugin_option_is_in_every_help(capsys):
    from odenets.workflow.cli import build_parser

    parser = build_parser()
    assert "--plugin MODULE" in parser.format_help()
    (sub,) = [a for a in parser._actions if hasattr(a, "_name_parser_map")]
    for name, command in sub.choices.items():
        assert "--plugin MODULE" in command.format_help(), name


# ---------------------------------------------------------------- entry points


def _fake_distribution(root: Path, entry_points: dict[str, str]) -> None:
    """An installed-looking distribution ``odenets-fake-plugins`` under ``root``."""
    info = root / "odenets_fake_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: odenets-fake-plugins\nVersion: 1.0\n"
    )
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{lines}")


def test_entry_point_plugins_load_and_a_broken_one_only_warns(tmp_path, monkeypatch, capsys):
    with _plugin_env(tmp_path, monkeypatch) as plugin:
        _fake_distribution(
            tmp_path, {"good": plugin, "broken": "no_such_module_for_odenets:register"}
        )
        assert main(["list"]) == 0
        captured = capsys.readouterr()
        assert "\nssprk3 " in captured.out and "\nssprk3_plugnet8 " in captured.out
        (line,) = captured.err.splitlines()
        assert line.startswith("odenets: warning: plugin entry point 'broken'")
        assert "odenets-fake-plugins 1.0" in line and "ModuleNotFoundError" in line
        assert main(["list"]) == 0  # loaded once: no duplicate registration


def test_entry_point_callables_are_called_once(tmp_path, monkeypatch):
    """With ``importlib.metadata.entry_points`` faked in-process: a ``module:function`` entry
    point is called (once per process), a failing one is a PluginWarning."""
    hook = """
        calls = []

        def register():
            calls.append(1)

        def broken():
            raise RuntimeError("boom")
    """
    with _plugin_env(tmp_path, monkeypatch, name="hook_plugin", text=hook) as plugin:
        points = [
            importlib.metadata.EntryPoint("hook", f"{plugin}:register", plugins.ENTRY_POINT_GROUP),
            importlib.metadata.EntryPoint("bad", f"{plugin}:broken", plugins.ENTRY_POINT_GROUP),
        ]

        def entry_points(*, group):
            return points if group == plugins.ENTRY_POINT_GROUP else []

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
        with pytest.warns(plugins.PluginWarning, match=r"'bad' .* RuntimeError: boom"):
            assert plugins.load_entry_points() == ["hook"]
        with pytest.warns(plugins.PluginWarning):  # the failing one is tried again
            assert plugins.load_entry_points() == ["hook"]
        assert sys.modules[plugin].calls == [1]


def test_console_script_sees_a_plugin_through_pythonpath(tmp_path):
    """The real command in a fresh interpreter, the plugin found through PYTHONPATH."""
    (tmp_path / "odenets_env_plugin.py").write_text(textwrap.dedent(PLUGIN))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    env["OMP_NUM_THREADS"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "odenets", "--plugin", "odenets_env_plugin", "list"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\nssprk3 " in proc.stdout and "\nplugfield " in proc.stdout


def test_ecosystem_page_code_runs(tmp_path, monkeypatch):
    """The Python blocks of docs/ecosystem.md run, in order."""
    text = (ROOT / "docs" / "ecosystem.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    assert len(blocks) == 2
    with _plugin_env(tmp_path, monkeypatch, text=""):  # restores the registries
        namespace: dict = {}
        for i, code in enumerate(blocks):
            exec(compile(code, f"docs/ecosystem.md block {i}", "exec"), namespace)
        assert on.get_scheme("ssprk3").order == 3
