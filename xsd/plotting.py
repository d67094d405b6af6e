"""Plotting helpers shared by the notebooks: one look, and every figure saved as a file."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from xsd import paths

SEEDS_COLOUR = "#7f7f7f"  # the seeds' reported figures are drawn in grey everywhere


def use_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight"})


def save(fig, name: str) -> str:
    """Write `fig` as figures/NAME.png (and .svg) and return the path relative to the book."""
    folder = paths.ensure(paths.figures_dir())
    for suffix in (".png", ".svg"):
        fig.savefig(folder / f"{name}{suffix}")
    try:
        return str((folder / f"{name}.png").relative_to(paths.book_dir()))
    except ValueError:  # figures moved outside the book with XSD_FIGURES
        return str(Path(folder.name) / f"{name}.png")
