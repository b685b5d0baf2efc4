"""What every subcommand's argument parsing shares: the one-line user error and argparse types."""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["CLIError", "csv_list", "package_version", "positive_int"]


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
