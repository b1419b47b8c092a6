"""Which trial ``hpo best`` exports: the best, the confirmed winner, or the best within a cost or
latency limit; and the quality-vs-cost fronts it lists (``--pareto``)."""

from __future__ import annotations

from hpo.errors import StudyError, UsageError
from hpo.results.confirm import confirmed_winner
from hpo.results.export import ExportedBest, best_trial_document
from hpo.results.pareto import best_within, format_fronts, trial_points
from hpo.store.study import StoredStudy


def export_document(
    stored: StoredStudy, confirmed: bool = False, max_cost: float | None = None, max_latency: float | None = None
) -> ExportedBest:
    """The document ``hpo best`` writes for the chosen trial."""
    limited = max_cost is not None or max_latency is not None
    if confirmed and limited:
        raise UsageError("--confirmed cannot be combined with --max-cost or --max-latency")
    if confirmed:
        trial, report = confirmed_winner(stored)
        winner = report.winner
        runs = len(winner.values) if winner else 0
        selected = f"hpo confirm: the best mean {report.metric} over {runs} seeds"
        return best_trial_document(stored, trial, selected, report.to_dict())
    if not limited:
        return best_trial_document(stored)
    study, config = stored.study, stored.config
    points = trial_points(study.get_trials(deepcopy=False), config.direction)
    if max_cost is not None and not any(p.cost_usd is not None for p in points):
        raise UsageError(
            f"--max-cost: no trial of study '{study.study_name}' has a recorded price "
            "(set cost in the config: dollars per hour by device)"
        )
    if max_latency is not None and not any(p.ms_per_text is not None for p in points):
        raise UsageError(f"--max-latency: no trial of study '{study.study_name}' recorded its encoding speed")
    best = best_within(points, config.direction == "maximize", max_cost, max_latency)
    limits = " and ".join(
        part
        for part in (
            f"cost <= ${max_cost:g}" if max_cost is not None else "",
            f"latency <= {max_latency:g} ms per text" if max_latency is not None else "",
        )
        if part
    )
    if best is None:
        raise StudyError(f"no complete trial of study '{study.study_name}' has {limits} (see: hpo best --pareto)")
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == best.trial)
    return best_trial_document(stored, trial, f"the best trial with {limits}")


def pareto_listing(stored: StoredStudy) -> str:
    """The text of ``hpo best --pareto``."""
    config = stored.config
    points = trial_points(stored.study.get_trials(deepcopy=False), config.direction)
    if not points:
        name = stored.study.study_name
        raise StudyError(f"study '{name}' has no complete trial yet (run: hpo worker --study {name})")
    return format_fronts(points, config.metric_name, config.direction == "maximize")
