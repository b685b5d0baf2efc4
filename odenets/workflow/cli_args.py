"""What every subcommand's argument parsing shares: the one-line user error and argparse types."""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable

__all__ = [
    "CLIError",
    "HelpFormatter",
    "csv_list",
    "data_args",
    "friendly",
    "model_args",
    "package_version",
    "positive_float",
    "positive_int",
    "suppress_defaults",
]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _shown(value: object) -> str:
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults formatter, the one every ``odenets`` parser uses: each option's
    help ends with ``(default: ...)`` unless its help already states the default or the
    default is ``None`` (then the help says what happens without the option); options without
    help text show their default alone. Flags show ``on``/``off``, lists their
    comma-separated items (an empty list: ``none``). Options whose default was moved aside by
    :func:`suppress_defaults` show the moved value."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = getattr(action, "shown_default", action.default)
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
            items = (f"{v:g}" if isinstance(v, float) else str(v) for v in default)
            shown = ",".join(items).replace("%", "%%") or "none"
        else:
            shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"default: {shown}"

    def _format_action(self, action: argparse.Action) -> str:
        if action.help is None:  # argparse prints nothing for help=None: show the default
            shown = self._get_help_string(action)
            if shown:
                action = copy.copy(action)
                action.help = shown
        return super()._format_action(action)


def suppress_defaults(p: argparse.ArgumentParser) -> dict[str, object]:
    """Take the defaults out of ``p``'s options and return them by ``dest``: a parsed namespace
    then holds only the options given on the command line (for a resume that keeps every other
    value of the saved run). :class:`HelpFormatter` still shows them in ``--help``."""
    defaults = {}
    for action in p._actions:
        if action.dest == "help" or action.default is argparse.SUPPRESS:
            continue
        defaults[action.dest] = action.default
        action.shown_default = action.default
        action.default = argparse.SUPPRESS
    return defaults


def package_version() -> str:
    """The installed version of odenets (read from the package metadata, without importing
    torch)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("odenets")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0.0.0"


def csv_list(kind: Callable[[str], object], what: str) -> Callable[[str], list]:
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {what}, got {text!r}"
            )
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {what}, got {text!r}"
            ) from None

    return parse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {value}")
    return value


def friendly(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand with SIGINT/SIGTERM as one line and exit ``128 + signal`` (130, 143),
    and turn a missing optional package, a refused run folder, a diverged run, an implicit
    solve that did not converge and a lost peer process into one-line errors (exit status 2
    for what the user can fix by other input, 1 for a run that failed)."""

    def run(args: argparse.Namespace) -> int:
        from ..numerics.fixed_point import ConvergenceError
        from .distributed import DistributedError
        from .run_lock import RunLockedError
        from .signals import Interrupted, stop_on_signals
        from .train import TrainingDiverged

        try:
            with stop_on_signals():
                return fn(args)
        except Interrupted as err:
            print(f"odenets: {err}", file=sys.stderr)
            return err.exit_code
        except ImportError as err:
            raise CLIError(str(err)) from None
        except RunLockedError as err:
            raise CLIError(str(err)) from None
        except TrainingDiverged as err:
            print(f"odenets: training stopped: {err}", file=sys.stderr)
            return 1
        except (ConvergenceError, DistributedError) as err:
            print(f"odenets: error: {str(err).splitlines()[0]}", file=sys.stderr)
            return 1

    return run


def data_args(p: argparse.ArgumentParser, default: str | None = "digits") -> None:
    from .data import list_datasets

    p.add_argument(
        "--data",
        default=default,
        choices=list_datasets(),
        help=f"dataset (default: {default or 'the one in the checkpoint'})",
    )
    p.add_argument("--data-dir", help="folder with the CIFAR-10 batches (cifar-10-batches-py)")


def model_args(p: argparse.ArgumentParser) -> None:
    from ..networks.nets import TIES

    p.add_argument("--scheme", help="override the preset's scheme (see `odenets list`)")
    p.add_argument("--depth", type=positive_int, help="override the depth (6n+2 for basic fields)")
    p.add_argument("--widths", type=csv_list(int, "integers"), help="stage widths, e.g. 16,32,64")
    p.add_argument("--tie", choices=TIES, help="override the weight tying")
    p.add_argument("--field", help="override the residual function (basic, preact, ...)")
