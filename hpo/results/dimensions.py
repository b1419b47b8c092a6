"""Matryoshka dimensions where people read results: a table row per dimension, and quality against
dimension in the report.

An evaluation that scored several embedding dimensions keeps each one's metrics under
``<key>_dim<d>`` (:mod:`hpo.training.matryoshka`); a trial keeps its metric at each dimension in
:data:`hpo.attrs.DIMENSION_METRICS`.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hpo import attrs
from hpo.results.evaluation import Evaluation
from hpo.training.matryoshka import metrics_by_dimension

if TYPE_CHECKING:
    import optuna

    from hpo.store.study import StoredStudy

PLOT = "dimensions"
TOP_TRIALS = 5


def rows_by_dimension(rows: list[Evaluation]) -> list[Evaluation]:
    """Each evaluation that scored several dimensions becomes one row per dimension, largest first."""
    expanded: list[Evaluation] = []
    for row in rows:
        dimensions = metrics_by_dimension(row.metrics)
        if not dimensions:
            expanded.append(row)
            continue
        for dim, metrics in dimensions.items():
            value = metrics.get(row.metric_key, math.nan)
            expanded.append(replace(row, model=f"{row.model} [{dim}d]", value=value, metrics=metrics))
    return expanded


def uses_dimensions(stored: StoredStudy) -> bool:
    """Whether the study's trials score several embedding dimensions."""
    config = stored.config
    return bool(config.search_space.dimension_candidates()) or config.evaluation.matryoshka_dim is not None


def write_dimension_plot(stored: StoredStudy, directory: Path) -> list[Path]:
    """The dev metric against embedding dimension for the best trials, as HTML and PNG.

    Raises ValueError when no complete trial has scored several dimensions yet.
    """
    import matplotlib.pyplot as plt
    import plotly.graph_objects as go

    config = stored.config
    curves = _best_curves(stored.study, config.direction == "maximize")
    if not curves:
        raise ValueError("no complete trial has scored several dimensions yet")
    title = f"{config.metric_name} (dev) against embedding dimension"
    figure = go.Figure()
    drawing = plt.figure(figsize=(10, 6))
    axes = drawing.add_subplot()
    for number, curve in curves.items():
        dims, values = list(curve), list(curve.values())
        figure.add_trace(go.Scatter(x=dims, y=values, mode="lines+markers", name=f"trial {number}"))
        axes.plot(dims, values, marker="o", label=f"trial {number}")
    every = sorted({d for curve in curves.values() for d in curve})
    figure.update_layout(title=title, xaxis_title="embedding dimension", yaxis_title=config.metric_name)
    figure.update_xaxes(type="log", tickvals=every, ticktext=[str(d) for d in every])
    axes.set_xscale("log", base=2)
    axes.set_xticks(every, [str(d) for d in every])
    axes.set(title=title, xlabel="embedding dimension", ylabel=config.metric_name)
    axes.legend()
    html, png = directory / f"{PLOT}.html", directory / f"{PLOT}.png"
    figure.write_html(str(html), include_plotlyjs="directory")
    drawing.savefig(png, dpi=100, bbox_inches="tight")
    plt.close("all")
    return [html, png]


def _best_curves(study: optuna.Study, maximize: bool) -> dict[int, dict[int, float]]:
    """The metric by dimension of the best complete trials that recorded several dimensions."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    scored = [t for t in complete if t.value is not None and len(t.user_attrs.get(attrs.DIMENSION_METRICS, {})) > 1]
    scored.sort(key=lambda t: float(t.value or 0.0), reverse=maximize)
    return {
        t.number: {int(d): float(v) for d, v in sorted(t.user_attrs[attrs.DIMENSION_METRICS].items(), key=_dim)}
        for t in scored[:TOP_TRIALS]
    }


def _dim(item: tuple[str, float]) -> int:
    return int(item[0])
