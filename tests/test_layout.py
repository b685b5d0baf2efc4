"""The package layout: imports point only downwards (numerics < networks, unfold < workflow <
the top-level package), siblings do not import each other, and there is no import cycle.

Every ``import`` / ``from ... import`` in every module is counted, including the ones inside
functions, so a lazy import cannot hide an upward edge or a cycle. Only imports under
``if TYPE_CHECKING:`` (annotations, never executed) are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "odenets"

#: Rank of each top-level part of the package; a module may import only lower ranks or its own
#: part. networks and unfold share a rank: neither may import the other.
RANKS = {
    "_validate": 0,
    "_format": 0,
    "numerics": 1,
    "networks": 2,
    "unfold": 2,
    "workflow": 3,
    "__init__": 4,
    "__main__": 4,
}


def _module_name(path: Path) -> str:
    parts = ["odenets", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """For every module, the odenets modules it imports (anywhere in its body)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(n)
            for block in ast.walk(tree)
            if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
            for n in ast.walk(block)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(name, path.name == "__init__.py", node)
                for alias in node.names:  # `from . import unfold` imports a module
                    sub = f"{base}.{alias.name}"
                    targets.add(sub if sub in modules else base)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_belongs_to_a_ranked_part():
    unknown = sorted({_part(m) for m in _modules()} - set(RANKS))
    assert not unknown, f"modules outside the layout: {unknown}; add them to a layer"


def test_imports_point_downwards():
    upward = []
    for module, targets in _imports(_modules()).items():
        for target in targets:
            mine, theirs = _part(module), _part(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine]:
                upward.append(f"{module} -> {target}")
    assert not upward, "imports that do not point down the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _imports(_modules())
    # a package's __init__ re-exporting its own modules is not a dependency of those modules on
    # the package; edges from a module to its own package's __init__ are the suspicious ones
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", ["odenets.numerics", "odenets.networks"])
def test_lower_layers_import_without_the_workflow(module):
    """Importing a lower layer pulls in nothing from the layers above it."""
    graph = _imports(_modules())
    seen, todo = set(), [m for m in graph if m == module or m.startswith(module + ".")]
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            todo.extend(graph[m])
    above = sorted(m for m in seen if RANKS[_part(m)] > RANKS[_part(module + ".x")])
    assert not above, f"{module} depends on {above}"
