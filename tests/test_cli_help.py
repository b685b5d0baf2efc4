"""``--help`` text: defaults shown, choices listed, the unfold help naming exactly its choices;
the install hints name real pip packages and the README's mnist1d line is covered by the
``[examples]`` install."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pytest

from odenets.workflow.cli import HelpFormatter, build_parser, main
from odenets.workflow.cmd_unfold import EXPERIMENTS

ROOT = Path(__file__).resolve().parents[1]


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _option_help(help_text: str, option: str) -> str:
    """The help paragraph of ``option`` (from its line to the next option's line)."""
    lines = help_text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip().startswith(option))
    end = next(
        (j for j in range(start + 1, len(lines)) if re.match(r"\s{2}-", lines[j])), len(lines)
    )
    return " ".join(ln.strip() for ln in lines[start:end])


def test_every_subcommand_uses_the_defaults_formatter():
    subs = _subparsers(build_parser())
    assert {"list", "orders", "compare", "train", "eval", "transfer", "unfold"} <= set(subs)
    for name, parser in subs.items():
        assert issubclass(parser.formatter_class, argparse.ArgumentDefaultsHelpFormatter), name
        assert parser.formatter_class is HelpFormatter, name


@pytest.mark.parametrize("command", ["list", "orders", "unfold"])
def test_help_states_the_default_of_every_option(command):
    parser = _subparsers(build_parser())[command]
    text = parser.format_help()
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            assert "(default: " in _option_help(text, action.option_strings[0]), (
                command,
                action.option_strings,
            )


def test_defaults_are_shown_once_and_readably():
    subs = _subparsers(build_parser())
    orders = subs["orders"].format_help()
    assert "(default: 40,80,160,320)" in _option_help(orders, "--steps")
    assert "(default: auto)" in _option_help(orders, "--problem")
    assert "(default: off)" in _option_help(orders, "--json")
    seeds = _option_help(subs["compare"].format_help(), "--seeds")  # help states it itself
    assert seeds.count("default") == 1


def test_orders_problem_lists_its_choices(capsys):
    from odenets.numerics.convergence import PROBLEMS

    text = _subparsers(build_parser())["orders"].format_help()
    assert "--problem {" + ",".join(["auto", *PROBLEMS]) + "}" in text
    assert main(["orders", "--problem", "logistc"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean 'logistic'?" in err


def test_unfold_help_names_exactly_its_choices():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    (line,) = [c.help for c in sub._choices_actions if c.dest == "unfold"]
    named = [w.strip() for w in line.split(":", 1)[1].split(",")]
    (positional,) = [a for a in _subparsers(parser)["unfold"]._actions if a.dest == "experiment"]
    assert named == list(positional.choices) == list(EXPERIMENTS)
    text = " ".join(_subparsers(parser)["unfold"].format_help().split())
    for name in EXPERIMENTS:
        assert f"{name}: " in text  # the description says what each one is


def test_mnist1d_hint_names_the_pip_package(monkeypatch):
    from odenets.workflow.data import load_mnist1d

    monkeypatch.setitem(sys.modules, "mnist1d", None)  # import mnist1d -> ImportError
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError) as err:
        load_mnist1d()
    text = str(err.value)
    assert "`pip install mnist1d`" in text and 'pip install -e ".[mnist1d]"' in text
    assert "mnist1d.data" not in text


def test_readme_mnist1d_line_is_covered_by_the_examples_install():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    (extra,) = re.findall(r'pip install -e "\.\[(\w+)\]"', install)
    assert "--data mnist1d" in readme
    assert any(re.match(r"mnist1d\b", req) for req in extras[extra])
    assert any(re.match(r"matplotlib\b", req) for req in extras[extra])  # results.png


def test_formatter_shows_defaults_without_help_and_skips_none():
    parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    parser.add_argument("--lr", type=float, default=0.1)  # no help text at all
    parser.add_argument("--widths", type=str, default=[16, 32], help="stage widths")
    parser.add_argument("--models", type=str, default=[], help="presets")
    parser.add_argument("--depth", type=int, help="override the depth")  # default None
    parser.add_argument("--out", default="runs", help="folder (default: runs/<name>)")
    text = parser.format_help()
    assert "default: 0.1" in _option_help(text, "--lr")
    assert "(default: 16,32)" in _option_help(text, "--widths")
    assert "(default: none)" in _option_help(text, "--models")
    assert "default" not in _option_help(text, "--depth")
    assert _option_help(text, "--out").count("default") == 1
