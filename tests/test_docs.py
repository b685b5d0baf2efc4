"""Docs that are generated from code cannot drift from it."""

from __future__ import annotations

from pathlib import Path

from odenets.numerics.catalog import MARK_END, MARK_START, scheme_table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_scheme_table_in_docs_matches_registry():
    text = (ROOT / "docs" / "schemes.md").read_text(encoding="utf-8")
    table = text.split(MARK_START, 1)[1].split(MARK_END, 1)[0].strip()
    assert table == scheme_table_markdown(), (
        "run `python -m odenets.numerics.catalog` to regenerate"
    )


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = text.split("```bash\n")[1:3]
    return [b.split("```", 1)[0].strip() for b in blocks]


def test_readme_has_the_two_commands_near_the_top():
    install_run, install_test = _readme_commands()
    assert install_run.endswith("odenets compare") and "pip install" in install_run
    assert install_test.endswith("python -m pytest -q") and '".[dev]"' in install_test


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert _readme_commands()[1] in ci


def test_readme_tour_runs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md tour", "exec"), {})
