"""Plotting helpers shared by the notebooks: one look, and every figure saved as a file."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import seaborn as sns

from xsd import paths

SEEDS_COLOUR = "#7f7f7f"  # the seeds' reported figures are drawn in grey everywhere


def use_style() -> None:
    """The studies' look: the plot style, and no library chatter in their outputs."""
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight"})
    quiet_libraries()


def quiet_libraries() -> None:
    """Keep library chatter out of a study's outputs: model-loading bars, deprecation warnings and
    the widget notice vary with the machine and with what was cached, and say nothing about the
    results (they would also make the golden notebooks differ from run to run)."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="IProgress not found")  # before transformers imports tqdm

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def save(fig, name: str) -> str:
    """Write `fig` as figures/NAME.png (and .svg) and return the path relative to the book."""
    folder = paths.ensure(paths.figures_dir())
    for suffix in (".png", ".svg"):
        fig.savefig(folder / f"{name}{suffix}")
    try:
        return str((folder / f"{name}.png").relative_to(paths.book_dir()))
    except ValueError:  # figures moved outside the book with XSD_FIGURES
        return str(Path(folder.name) / f"{name}.png")
