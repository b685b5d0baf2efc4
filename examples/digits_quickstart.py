"""Quickstart: ResNet (Euler), an RK2 (Heun) network and LM-ResNet on the 8x8 digits.

The same comparison as ``odenets compare``: one small SolverNet per scheme, same depth,
widths and recipe, on 5 paired seeds; accuracy with 95% intervals and the paired verdict
against the ResNet. About 1.5 minutes of CPU time.

    python examples/digits_quickstart.py
"""

from odenets.workflow.compare import CompareConfig, compare
from odenets.workflow.compare_tables import markdown_table, notes


def main() -> None:
    results = compare(CompareConfig(schemes=["euler", "heun", "lm"], data="digits"))
    print(markdown_table(results))
    print(notes(results))


if __name__ == "__main__":
    main()
