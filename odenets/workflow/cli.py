"""The ``odenets`` command line.

Each subcommand is added by an ``add_<name>(subparsers)`` function that sets ``func`` on its
parser; ``main`` runs it. Bad input is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from collections.abc import Sequence

from .._format import text_table
from .._validate import closest
from .cli_args import CLIError, package_version

__all__ = ["CLIError", "HelpFormatter", "build_parser", "main"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, the one every ``odenets`` parser uses: each option's
    help ends with ``(default: ...)`` unless its help already states the default or the
    default is ``None`` (then the help says what happens without the option); options without
    help text show their default alone. Flags show ``on``/``off``, lists their
    comma-separated items (an empty list: ``none``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text.lower()
            or default is None
            or default is argparse.SUPPRESS
            or not (action.option_strings or action.nargs in (argparse.OPTIONAL, "*"))
        ):
            return text
        if isinstance(default, bool):
            shown = "on" if default else "off"
        elif isinstance(default, list | tuple):
            shown = ",".join(map(str, default)).replace("%", "%%") or "none"
        else:
            shown = "%(default)s"
        return f"{text} (default: {shown})" if text else f"default: {shown}"

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None:  # argparse prints nothing for help=None: show the default
            shown = self._get_help_string(action)
            if shown:
                action = copy.copy(action)
                action.help = shown
        return super()._format_action(action)


class _Parser(argparse.ArgumentParser):
    """One-line errors (exit 2), a closest-match hint for an invalid choice, and
    :class:`HelpFormatter` unless a parser asks for another formatter."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message: str):  # one line, exit 2 (argparse prints usage + error)
        message += _choice_hint(message)
        raise CLIError(
            f"{self.prog.removeprefix('odenets ')}: {message}" if " " in self.prog else message
        )


def _choice_hint(message: str) -> str:
    """ "; did you mean 'x'?" for argparse's "invalid choice: 'y' (choose from ...)"."""
    match = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not match:
        return ""
    given, listed = match.groups()
    valid = re.findall(r"'([^']*)'", listed) or [c.strip() for c in listed.split(",")]
    near = closest(given, valid)
    return f"; did you mean {near!r}?" if near else ""


class _LazyChoices:
    """``choices=`` filled on first use, so building the parser imports nothing heavy."""

    def __init__(self, load) -> None:
        self._load, self._items = load, None

    def _get(self) -> list[str]:
        if self._items is None:
            self._items = list(self._load())
        return self._items

    def __contains__(self, item: object) -> bool:
        return item in self._get()

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def add_list(sub) -> None:
    p = sub.add_parser("list", help="list the registered schemes and models")
    p.set_defaults(func=_run_list)


def _run_list(args) -> int:
    from ..networks.presets import list_models, model_info
    from ..numerics.schemes import get_scheme, list_schemes

    rows = [("scheme", "family", "order", "stages", "architecture")]
    for name in list_schemes():
        s = get_scheme(name)
        order = f"{s.order:g}"
        if s.strong_order is not None:
            order += f" (SDE: strong {s.strong_order:g}, weak {s.weak_order:g})"
        rows.append((s.name, s.family, order, str(s.stages), s.architecture))
    print(text_table(rows))
    print()
    rows = [("model", "description")] + [(m, model_info(m).description) for m in list_models()]
    print(text_table(rows))
    return 0


def add_orders(sub) -> None:
    p = sub.add_parser("orders", help="measure every scheme's convergence order side by side")
    p.add_argument("--schemes", help="comma-separated scheme ids (default: all)")
    p.add_argument(
        "--problem",
        default="auto",
        choices=_LazyChoices(_problems),
        help="problem with a closed-form solution; auto: each scheme on the problem class its "
        "order is declared for (nonlinear; separable for Störmer–Verlet)",
    )
    p.add_argument("--steps", default="40,80,160,320", help="comma-separated step counts")
    p.add_argument("--json", action="store_true", help="print only JSON on stdout")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="write a log-log figure of error vs h with slope guides; the suffix picks the "
        "format (.png at 300 dpi, .pdf, .svg, ...) (default: no figure)",
    )
    p.set_defaults(func=_run_orders)


def _problems() -> list[str]:
    from ..numerics.convergence import PROBLEMS

    return ["auto", *PROBLEMS]


def _run_orders(args) -> int:
    import json

    from ..numerics.convergence import convergence_study
    from .plots import check_figure_path, plot_convergence

    schemes = None if args.schemes is None else [s.strip() for s in args.schemes.split(",")]
    try:
        steps = [int(s) for s in args.steps.split(",")]
    except ValueError:
        raise CLIError(f"--steps expects comma-separated integers, got {args.steps!r}") from None
    check_figure_path(args.plot)
    problem = None if args.problem == "auto" else args.problem
    rows = convergence_study(schemes, problem, steps)
    if args.json:
        print(json.dumps({"problem": args.problem, "results": rows}))
    else:
        table = [("scheme", "family", "problem", "declared", "measured", f"error at n={steps[-1]}")]
        for r in rows:
            table.append(
                (
                    r["scheme"],
                    r["family"],
                    r["problem"],
                    f"{r['declared_order']:g}",
                    f"{r['measured_order']:.2f}",
                    f"{r['errors'][-1]:.2e}",
                )
            )
        print(text_table(table))
    if args.plot:
        where = "each scheme on its problem class" if problem is None else f"the {problem} problem"
        plot_convergence(rows, args.plot, title=f"convergence on {where}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="odenets", description="Deep residual networks as numerical integrators.")
    parser.add_argument("--version", action="version", version=f"odenets {package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    add_list(sub)
    add_orders(sub)
    from .cmd_batch import add_batch_sweep
    from .cmd_compare import add_compare
    from .cmd_eval import add_eval, add_transfer
    from .cmd_train import add_train
    from .cmd_unfold import add_unfold

    for add in (add_compare, add_train, add_eval, add_transfer, add_unfold):
        add(sub)
    add_batch_sweep(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``odenets`` console script; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except BrokenPipeError:  # e.g. `odenets list | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except CLIError as err:
        print(f"odenets: error: {err}", file=sys.stderr)
    except (ValueError, TypeError, OSError, ImportError) as err:  # ImportError: an extra
        print(f"odenets: error: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        print("odenets: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
