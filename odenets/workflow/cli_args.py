"""What every subcommand's argument parsing shares: the one-line user error and argparse types."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

__all__ = [
    "CLIError",
    "csv_list",
    "data_args",
    "friendly",
    "model_args",
    "package_version",
    "positive_int",
]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


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


def friendly(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn a missing optional package and a diverged run into one-line errors."""

    def run(args: argparse.Namespace) -> int:
        from .train import TrainingDiverged

        try:
            return fn(args)
        except ImportError as err:
            raise CLIError(str(err)) from None
        except TrainingDiverged as err:
            print(f"odenets: training stopped: {err}", file=sys.stderr)
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
