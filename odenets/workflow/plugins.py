"""Plugins: modules that register schemes, families, fields and presets before a command runs.

A plugin is an ordinary Python module whose import calls the registries
(:func:`~odenets.register_scheme`, :func:`~odenets.register_family`,
:func:`~odenets.register_field`, :func:`~odenets.register_model`). The ``odenets`` command sees
what it registers in two ways:

* ``odenets --plugin MODULE COMMAND ...`` (repeatable; also accepted after the command): a
  dotted module name importable from ``sys.path`` / ``PYTHONPATH``, or the path of a ``.py``
  file. A plugin that fails to import is a one-line error (exit status 2).
* an entry point in the group ``odenets.plugins`` of an installed distribution, loaded for
  every command::

      [project.entry-points."odenets.plugins"]
      mypkg = "mypkg.odenets_plugin"        # a module: importing it registers
      other = "otherpkg.plugin:register"    # a callable: called once, with no arguments

  An entry point that fails to load is skipped with a one-line :class:`PluginWarning`, so a
  broken third-party package cannot stop the command line.

Both routes import each plugin once per process (a second request is a no-op).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginWarning",
    "load_entry_points",
    "load_plugin",
    "load_plugins",
]

#: The entry-point group whose members every ``odenets`` command loads.
ENTRY_POINT_GROUP = "odenets.plugins"

#: Entry points already loaded in this process: ``(name, value)``.
_LOADED: set[tuple[str, str]] = set()


class PluginError(ImportError):
    """A plugin named on the command line could not be imported (one line, says why)."""


class PluginWarning(UserWarning):
    """An entry-point plugin failed to load and was skipped."""


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _is_path(spec: str) -> bool:
    return spec.endswith(".py") or "/" in spec or "\\" in spec


def _load_file(path: Path) -> ModuleType:
    """Import the ``.py`` file ``path`` as the module named by its stem (once)."""
    path = path.resolve()
    name = path.stem
    loaded = sys.modules.get(name)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    if not name.isidentifier():
        raise PluginError(f"--plugin {path}: the file name must be a Python identifier + .py")
    if loaded is not None:
        raise PluginError(
            f"--plugin {path}: a different module named {name!r} is already imported "
            f"({getattr(loaded, '__file__', None) or 'built in'}); rename the file"
        )
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"--plugin {path}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: pickle and dataclasses look it up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def load_plugin(spec: str) -> ModuleType:
    """Import the plugin ``spec`` (a dotted module name, or the path of a ``.py`` file) and
    return the module; importing it again is a no-op.

    Raises:
        PluginError: the module is not found, or importing it raised (the message is one line
            naming the plugin and the original error).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise PluginError(f"--plugin expects a module name or a .py file, got {spec!r}")
    spec = spec.strip()
    try:
        if _is_path(spec):
            path = Path(spec)
            if not path.is_file():
                raise PluginError(f"--plugin {spec}: no such file")
            return _load_file(path)
        return importlib.import_module(spec)
    except PluginError:
        raise
    except ModuleNotFoundError as err:
        if err.name is not None and spec != err.name and not spec.startswith(f"{err.name}."):
            # the plugin exists, a module it imports does not
            raise PluginError(f"--plugin {spec}: importing it failed: {_one_line(err)}") from err
        raise PluginError(
            f"--plugin {spec}: no module named {spec!r} (give a module on sys.path / "
            "PYTHONPATH, or the path of a .py file such as ./my_schemes.py)"
        ) from err
    except Exception as err:  # the plugin's own code raised (e.g. a duplicate registration)
        raise PluginError(f"--plugin {spec}: importing it failed: {_one_line(err)}") from err


def load_plugins(specs: Iterable[str]) -> list[ModuleType]:
    """:func:`load_plugin` for each of ``specs``, in order."""
    return [load_plugin(spec) for spec in specs]


def _entry_points(group: str) -> list[Any]:
    # looked up at call time, so tests (and tools) can substitute importlib.metadata's
    return list(importlib.metadata.entry_points(group=group))


def load_entry_points(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """Load every entry point of ``group`` (once per process) and return the names loaded.

    An entry point naming a module is imported; one naming a callable (``module:function``)
    is imported and called with no arguments. One that fails is skipped with a one-line
    :class:`PluginWarning` naming it, its distribution and the error.
    """
    loaded = []
    for point in _entry_points(group):
        key = (point.name, point.value)
        if key in _LOADED:
            loaded.append(point.name)
            continue
        try:
            target = point.load()
            if not isinstance(target, ModuleType) and callable(target):
                target()
        except Exception as err:
            dist = getattr(point, "dist", None)
            where = f" (from {dist.name} {dist.version})" if dist is not None else ""
            warnings.warn(
                f"plugin entry point {point.name!r} = {point.value!r}{where} was skipped: "
                f"{_one_line(err)}",
                PluginWarning,
                stacklevel=2,
            )
            continue
        _LOADED.add(key)
        loaded.append(point.name)
    return loaded
