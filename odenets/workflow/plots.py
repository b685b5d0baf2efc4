"""Figures for the workflow (matplotlib, imported lazily; the ``examples`` extra installs it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_png", "plot_compare", "plot_convergence", "pyplot"]


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or a one-line ImportError."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plots need matplotlib: `pip install odenets[examples]`") from None
    return plt


def check_png(path: str | None) -> str | None:
    """A ``--plot`` argument must name a ``.png`` file (None: no plot)."""
    if path is not None and not str(path).lower().endswith(".png"):
        raise ValueError(f"--plot expects a .png path, got {path!r}")
    return path


def plot_compare(results: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save a PNG of :func:`odenets.workflow.compare.compare` results: test accuracy (mean ± std
    over seeds) against parameters and against residual-function evaluations per forward."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, label in (
        (axes[0], "params", "parameters"),
        (axes[1], "f_evals", "F-evaluations per forward"),
    ):
        for r in results:
            ax.errorbar(
                r[key],
                100 * r["test_accuracy"],
                yerr=100 * r["test_accuracy_std"],
                fmt="o",
                capsize=3,
                label=r["scheme"],
            )
            ax.annotate(
                r["scheme"],
                (r[key], 100 * r["test_accuracy"]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=8,
            )
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("test accuracy (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_convergence(rows: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Save a log-log PNG of error against step size, one line per scheme."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for r in rows:
        ax.loglog(
            r["h"],
            r["errors"],
            "o-",
            label=f"{r['scheme']} (declared {r['declared_order']:g}, "
            f"measured {r['measured_order']:.2f})",
        )
    ax.set_xlabel("step size h")
    ax.set_ylabel("max error at the final time")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(title or "global error vs step size")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
