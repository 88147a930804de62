"""matplotlib (Agg backend) and a figure writer whose PNG and SVG files are byte-reproducible."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (and none on CI)

import matplotlib.pyplot as plt  # noqa: E402


def save_figure(fig, stem: Path) -> list[Path]:
    """Write ``stem``.png and ``stem``.svg, then close the figure.

    The SVG has no date and fixed element ids, the PNG no software stamp, so the same data give the same
    bytes (with the same matplotlib version).
    """
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    with plt.rc_context({"svg.hashsalt": "deeprnn", "svg.fonttype": "path"}):
        fig.savefig(paths[0], dpi=110, metadata={"Software": None})
        fig.savefig(paths[1], metadata={"Date": None})
    plt.close(fig)
    return paths
