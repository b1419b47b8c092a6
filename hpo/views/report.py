"""``hpo report``: a static report of a study for headless servers and for sharing.

HTML (interactive, plotly) and PNG (matplotlib) files of Optuna's own plots, and a Markdown page
with the study summary and a table of the top trials.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hpo import attrs
from hpo.errors import UsageError
from hpo.markdown import markdown_text
from hpo.progress import describe_params
from hpo.results.dimensions import PLOT, uses_dimensions, write_dimension_plot
from hpo.results.pareto import cost_axes, format_fronts, trial_points
from hpo.store.study import StoredStudy
from hpo.store.trial_kinds import search_trials
from hpo.views.pareto_plots import write_front_plots
from hpo.views.plot_labels import plotting_copy, short_labels, short_value

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

PLOTS = (
    "optimization_history",
    "intermediate_values",
    "param_importances",
    "parallel_coordinate",
    "slice",
)
# Also written: pareto_cost, pareto_latency and (when trials differ in it) pareto_dimension (hpo.views.pareto_plots).


STEP_LABEL = "training samples seen"
# Parameter importances are a random forest fitted to the complete trials: on a handful of trials
# they rank noise, and Optuna draws them from 2. Below this many the plot is skipped, and drawn
# ones say how many trials they stand on.
MIN_IMPORTANCE_TRIALS = 10


@dataclass(frozen=True)
class Report:
    """The files written, and the plots skipped with the reason."""

    directory: Path
    files: list[Path]
    skipped: dict[str, str]


def write_report(stored: StoredStudy, directory: Path, top: int = 10) -> Report:
    """Write every plot as HTML and PNG, and ``report.md``; a plot the study cannot draw yet is skipped."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"-o {directory}: is a file; give a folder for the report")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"-o {directory}: cannot create the folder: {exc.strerror}") from None
    files: list[Path] = []
    skipped: dict[str, str] = {}
    labelled = plotting_copy(stored.study)  # search trials, with short unique parameter labels
    for name in PLOTS:
        try:
            files += _write_plot(labelled, name, directory)
        except (ValueError, RuntimeError) as exc:  # e.g. importances need two complete trials
            skipped[name] = str(exc).splitlines()[0]
            logger.warning("plot %s skipped: %s", name, skipped[name])
    if uses_dimensions(stored):
        try:
            files += write_dimension_plot(stored, directory)
        except ValueError as exc:
            skipped[PLOT] = str(exc)
            logger.warning("plot %s skipped: %s", PLOT, exc)
    points = trial_points(stored.study.get_trials(deepcopy=False), stored.config.direction)
    files += write_front_plots(points, stored.config.metric_name, stored.config.direction == "maximize", directory)
    markdown = directory / "report.md"
    markdown.write_text(report_markdown(stored, files, skipped, top), encoding="utf-8")
    return Report(directory, [*files, markdown], skipped)


def _write_plot(study: optuna.Study, name: str, directory: Path) -> list[Path]:
    import matplotlib.pyplot as plt
    import optuna

    with warnings.catch_warnings():  # experimental backend; axis-limit notes on flat params
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", UserWarning)
        if not _has_data(study, name):
            raise ValueError("no trial has data for it yet")
        if name == "param_importances":
            _check_importance_trials(study)
        figure = getattr(optuna.visualization, f"plot_{name}")(study)
        if name == "intermediate_values":
            figure.update_xaxes(title_text=STEP_LABEL)
        html = directory / f"{name}.html"
        figure.write_html(str(html), include_plotlyjs="directory")  # one plotly.min.js beside them, works offline
        axes = getattr(optuna.visualization.matplotlib, f"plot_{name}")(study)
    png = directory / f"{name}.png"
    first = axes.flat[0] if hasattr(axes, "flat") else axes
    if name == "intermediate_values":
        first.set_xlabel(STEP_LABEL)
    panels = len(axes.flat) if hasattr(axes, "flat") else 1
    first.figure.set_size_inches(max(10, 3.2 * panels), 6)  # a slice plot has one panel per parameter
    first.figure.savefig(png, dpi=100, bbox_inches="tight")
    plt.close("all")
    return [html, png]


def _has_data(study: optuna.Study, name: str) -> bool:
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if name == "intermediate_values":
        return any(t.intermediate_values for t in study.get_trials(deepcopy=False))
    if name == "param_importances":
        return len(complete) >= 2 and bool(complete[0].params)
    return bool(complete)


def _check_importance_trials(study: optuna.Study) -> None:
    """ValueError when too few trials are complete for importances to mean anything."""
    complete = _complete_count(study)
    if complete < MIN_IMPORTANCE_TRIALS:
        raise ValueError(
            f"needs at least {MIN_IMPORTANCE_TRIALS} complete trials to mean anything, the study has {complete}"
        )


def _complete_count(study: optuna.Study) -> int:
    import optuna

    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def importance_caveat(complete: int) -> str:
    """The line under the importances plot: what it stands on."""
    return (
        f"Parameter importances (fANOVA) from {complete} complete search trials: which parameters moved the "
        "dev metric within this search's ranges, a rough guide with tens of trials, not a ranking."
    )


def report_markdown(stored: StoredStudy, files: list[Path], skipped: dict[str, str], top: int) -> str:
    import optuna

    study, config = stored.study, stored.config
    trials = search_trials(study.get_trials(deepcopy=False))
    states = {s: sum(t.state.name == s for t in trials) for s in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")}
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    complete.sort(key=lambda t: t.value or 0.0, reverse=config.direction == "maximize")
    lines = [
        f"# Study {study.study_name}",
        "",
        f"Objective {config.objective}; metric {config.metric_name} on dev ({config.direction}).",
        "Trials: " + ", ".join(f"{n} {s.lower()}" for s, n in states.items()) + f" (budget {config.budget.n_trials}).",
        "",
        f"## Top {min(top, len(complete))} trials",
        "",
        "| trial | " + config.metric_name + " | scored on | samples | train samples/s | minutes | dollars "
        "| encode texts/s | params |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for trial in complete[:top]:
        record = trial.user_attrs
        minutes = record.get(attrs.WALL_SECONDS, 0) / 60
        params = markdown_text(describe_params(trial.params))
        lines.append(
            f"| {trial.number} | {trial.value:.4f} | {markdown_text(record.get(attrs.EVAL_CORPUS, '-'))} | "
            f"{record.get(attrs.SAMPLES_SEEN, '-')} | {record.get(attrs.TRAIN_SAMPLES_PER_SECOND, '-')} | "
            f"{minutes:.1f} | {record.get(attrs.COST_USD, '-')} | {record.get(attrs.ENCODE_PER_SECOND, '-')} | "
            f"{params} |"
        )
    lines += _front_lines(stored)
    lines += ["", "## Plots", ""]
    labels = short_labels(name for t in complete for name in t.params)
    losses = {short_value("loss", t.params["loss"]): t.params["loss"] for t in complete if "loss" in t.params}
    legend = [f"{v} = {k}" for k, v in labels.items() if k != v] + [f"{k} = {v}" for k, v in losses.items() if k != v]
    if legend:
        lines.append("Parameter labels: " + ", ".join(legend) + ".\n")
    for path in files:
        if path.suffix == ".png":
            title = path.stem.replace("_", " ")
            lines.append(f"### {title}\n\n![{title}]({path.name})\n\n[interactive]({path.stem}.html)\n")
            if path.stem == "param_importances":
                lines.append(importance_caveat(len(complete)) + "\n")
    lines += [f"- {name}: skipped ({reason})" for name, reason in skipped.items()]
    return "\n".join(lines) + "\n"


def _front_lines(stored: StoredStudy) -> list[str]:
    """The fronts of the dev metric against cost, latency and dimension, as Markdown."""
    config = stored.config
    points = trial_points(stored.study.get_trials(deepcopy=False), config.direction)
    if not points or not cost_axes(points):
        return []
    text = format_fronts(points, config.metric_name, config.direction == "maximize")
    return ["", "## Quality against cost", "", "```", text, "```"]
