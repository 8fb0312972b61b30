"""Matplotlib without a screen, and the one function that saves a figure (PDF + PNG, atomically)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .io import atomic_path  # noqa: E402

__all__ = ["plt", "save"]


def save(fig, pdf: str | Path, png: str | Path | None = None, dpi: int = 150) -> None:
    fig.tight_layout()
    with atomic_path(pdf) as tmp:
        fig.savefig(tmp, format="pdf")
    if png is not None:
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi)
    plt.close(fig)
