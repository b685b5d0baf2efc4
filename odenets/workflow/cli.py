"""The ``odenets`` command line.

Each subcommand is added by an ``add_<name>(subparsers)`` function that sets ``func`` on its
parser; ``main`` runs it. Bad input is one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence

from .._format import text_table
from .._validate import closest
from .cli_args import CLIError, HelpFormatter, package_version
from .cmd_batch import add_batch_sweep
from .cmd_compare import add_compare
from .cmd_eval import add_eval, add_transfer
from .cmd_train import add_train
from .cmd_unfold import EXPERIMENTS, add_unfold

__all__ = ["CLIError", "HelpFormatter", "build_parser", "main"]


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
    """``choices=`` filled on first use (argparse reads them as soon as the option is added,
    i.e. when the subcommand's parser is built, which :func:`main` does only for the
    subcommand named on the command line)."""

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
    p = sub.add_parser("list", help=_COMMANDS["list"][0])
    p.set_defaults(func=_run_list)


def _run_list(args) -> int:
    from ..networks.fields import get_field, list_fields
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
    rows = [("field", "acts on", "layers", "description")]
    for name in list_fields():
        spec = get_field(name)
        kind = "vectors" if spec.vector else "feature maps"
        rows.append((name, kind, str(spec.layers), spec.description))
    print(text_table(rows))
    print()
    rows = [("model", "description")] + [(m, model_info(m).description) for m in list_models()]
    print(text_table(rows))
    return 0


def add_orders(sub) -> None:
    p = sub.add_parser("orders", help=_COMMANDS["orders"][0])
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
    from .plots import check_figure_path
    from .plots_orders import plot_convergence

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
        title = (
            "convergence of each scheme on its problem class"
            if problem is None
            else f"convergence on the {problem} problem"
        )
        plot_convergence(rows, args.plot, title=title)
    return 0


#: Every subcommand in help order: its one-line help (shown by ``odenets --help`` before
#: the subcommand's parser is built) and the function that adds its parser. Each function
#: states the same help; ``tests/test_lazy_import.py`` checks they agree.
_COMMANDS = {
    "list": ("list the registered schemes, fields and models", add_list),
    "orders": ("measure every scheme's convergence order side by side", add_orders),
    "compare": (
        "train one small net per scheme on several seeds: accuracy with intervals, "
        "paired verdicts, cost, robustness; --sweep for accuracy-vs-cost curves",
        add_compare,
    ),
    "train": ("train a model with checkpoints (torchrun-ready)", add_train),
    "eval": ("test accuracy of a checkpoint", add_eval),
    "transfer": (
        "evaluate a weight-tied checkpoint under other schemes and step counts",
        add_transfer,
    ),
    "unfold": (f"deep-unfolding reproductions: {', '.join(EXPERIMENTS)}", add_unfold),
    "batch-sweep": (
        "steps N(b) to a target per batch size; fit N(b) and the critical batch size",
        add_batch_sweep,
    ),
}

_PLUGIN_HELP = (
    "import MODULE (a dotted name on sys.path / PYTHONPATH, or a .py file) before the command "
    "runs, so that the schemes, fields and presets it registers can be used; repeatable; "
    "entry points of the group 'odenets.plugins' are always loaded (default: none)"
)


class _Subcommands(argparse._SubParsersAction):
    """Subparsers that each accept ``--plugin`` and, when added with :meth:`add_lazy`, are
    built only when chosen: ``odenets --help`` lists them from their one-line help, and
    ``odenets --version`` builds none, so neither imports torch."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[str, tuple[argparse.ArgumentParser, object]] = {}

    def add_parser(self, name, **kwargs):
        parser = super().add_parser(name, **kwargs)
        parser.add_argument(
            "--plugin",
            action="append",
            dest="plugins_after_command",
            metavar="MODULE",
            default=argparse.SUPPRESS,
            help=_PLUGIN_HELP,
        )
        return parser

    def add_lazy(self, name: str, help: str, add) -> None:
        """List ``name`` with ``help`` now; ``add(self)`` builds its parser when chosen."""
        placeholder = argparse._SubParsersAction.add_parser(self, name, help=help, add_help=False)
        self._pending[name] = (placeholder, add)

    def build(self, name: str) -> argparse.ArgumentParser:
        """The parser of subcommand ``name``, built now if it is still pending."""
        if name in self._pending:
            placeholder, add = self._pending.pop(name)
            listed = len(self._choices_actions)
            del self._name_parser_map[name]
            add(self)
            del self._choices_actions[listed:]  # keep the entry listed in help order
            if self._name_parser_map.get(name) in (None, placeholder):
                raise RuntimeError(f"adding subcommand {name!r} did not add its parser")
        return self._name_parser_map[name]

    def __call__(self, parser, namespace, values, option_string=None):
        if values and values[0] in self._pending:
            self.build(values[0])
        super().__call__(parser, namespace, values, option_string)


def build_parser(*, lazy: bool = False) -> argparse.ArgumentParser:
    """The ``odenets`` parser. ``lazy=True`` (what :func:`main` uses) builds a subcommand's
    parser only when the command line names it."""
    parser = _Parser(prog="odenets", description="Deep residual networks as numerical integrators.")
    parser.add_argument("--version", action="version", version=f"odenets {package_version()}")
    parser.add_argument(
        "--plugin", action="append", dest="plugins", metavar="MODULE", help=_PLUGIN_HELP
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=_Parser, action=_Subcommands
    )
    sub.required = True
    for name, (help, add) in _COMMANDS.items():
        if lazy:
            sub.add_lazy(name, help, add)
        else:
            add(sub)
    return parser


def _load_plugins(args: argparse.Namespace) -> None:
    """Import the ``--plugin`` modules (one-line error, exit 2, for one that fails) and the
    ``odenets.plugins`` entry points (a one-line warning for one that fails)."""
    import warnings

    from .plugins import PluginError, load_entry_points, load_plugins

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_entry_points()
    for w in caught:
        print(f"odenets: warning: {w.message}", file=sys.stderr)
    named = [*(args.plugins or []), *getattr(args, "plugins_after_command", [])]
    try:
        load_plugins(named)
    except PluginError as err:
        raise CLIError(str(err)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``odenets`` console script; returns the exit status."""
    try:
        args = build_parser(lazy=True).parse_args(argv)
        _load_plugins(args)
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
