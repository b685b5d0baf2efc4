"""Quickstart: ResNet (Euler), an RK2 (Heun) network and LM-ResNet on the 8x8 digits.

The same comparison as ``odenets compare``: one small SolverNet per scheme, same depth,
widths, seed and recipe; about half a minute on 2 CPU cores, every scheme >= 98% test
accuracy.

    python examples/digits_quickstart.py
"""

from odenets.workflow.compare import CompareConfig, compare, markdown_table


def main() -> None:
    results = compare(CompareConfig(schemes=["euler", "heun", "lm"], data="digits"))
    print(markdown_table(results))


if __name__ == "__main__":
    main()
