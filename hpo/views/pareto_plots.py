"""Plots of a study's quality-vs-cost fronts (:mod:`hpo.results.pareto`) for ``hpo report``: HTML and PNG.

Each plot shows every complete search trial as a point (dev metric against one cost axis), the
trials on the front joined by a step line and labelled with their trial number.
"""

from __future__ import annotations

from pathlib import Path

from hpo.results.pareto import Axis, Point, cost_axes, front


def write_front_plots(points: list[Point], metric: str, maximize: bool, directory: Path) -> list[Path]:
    """``pareto_<axis>.html`` and ``.png`` for each axis the points have; the files written."""
    files: list[Path] = []
    for axis in cost_axes(points):
        kept = front(points, axis, maximize)
        files += [_html(points, kept, axis, metric, directory), _png(points, kept, axis, metric, directory)]
    return files


def _xy(points: list[Point], axis: Axis) -> tuple[list[float], list[float], list[int]]:
    placed = [p for p in points if axis.of(p) is not None]
    return [float(axis.of(p) or 0.0) for p in placed], [p.value for p in placed], [p.trial for p in placed]


def _html(points: list[Point], kept: list[Point], axis: Axis, metric: str, directory: Path) -> Path:
    import plotly.graph_objects as go

    x, y, trials = _xy(points, axis)
    fx, fy, ft = _xy(kept, axis)
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=x, y=y, mode="markers", name="trials", text=[f"trial {t}" for t in trials], marker={"size": 8})
    )
    figure.add_trace(
        go.Scatter(
            x=fx,
            y=fy,
            mode="lines+markers+text",
            line_shape="hv",
            name="front",
            text=[str(t) for t in ft],
            textposition="top left",
            marker={"size": 11},
        )
    )
    figure.update_layout(
        title=f"{metric} against {axis.label}: {len(kept)} of {len(x)} trials on the front",
        xaxis_title=axis.label,
        yaxis_title=f"{metric} (dev)",
    )
    path = directory / f"pareto_{axis.name}.html"
    figure.write_html(str(path), include_plotlyjs="directory")
    return path


def _png(points: list[Point], kept: list[Point], axis: Axis, metric: str, directory: Path) -> Path:
    import matplotlib.pyplot as plt

    x, y, _ = _xy(points, axis)
    fx, fy, ft = _xy(kept, axis)
    figure, ax = plt.subplots(figsize=(8, 5))
    ax.scatter(x, y, color="tab:blue", alpha=0.6, label="trials")
    ax.step(fx, fy, where="post", color="tab:red", label="front")
    ax.scatter(fx, fy, color="tab:red", zorder=3)
    for xi, yi, trial in zip(fx, fy, ft, strict=True):
        ax.annotate(str(trial), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(axis.label)
    ax.set_ylabel(f"{metric} (dev)")
    ax.set_title(f"{metric} against {axis.label}: {len(kept)} of {len(x)} trials on the front")
    ax.legend()
    path = directory / f"pareto_{axis.name}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path
