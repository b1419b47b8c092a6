"""Read-only views of studies for ``hpo studies`` and ``hpo status``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.stats.cost import study_spend
from hpo.store.trial_kinds import confirmation_trials, ranked_complete, search_trials

if TYPE_CHECKING:
    import optuna

    from hpo.store.storage import Storage
    from hpo.store.study import StoredStudy

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
NO_PRICES = "no prices, so no dollars (set cost: dollars per device-hour, e.g. {cpu: 0.10})"


@dataclass(frozen=True)
class StudyRow:
    """One line of ``hpo studies``."""

    name: str
    objective: str
    metric: str
    states: dict[str, int]
    best: float | None


def list_studies(storage: Storage) -> list[StudyRow]:
    """Every study in the storage, hpo's or not, by name."""
    backend = storage.backend
    rows = []
    for summary in backend.get_all_studies():
        config = summary.user_attrs.get(attrs.CONFIG, {})
        study_id = backend.get_study_id_from_name(summary.study_name)
        trials = search_trials(backend.get_all_trials(study_id, deepcopy=False))
        best = _best_value(trials, summary.direction.name.lower())
        rows.append(
            StudyRow(
                name=summary.study_name,
                objective=config.get("objective", "-"),
                metric=config.get("metric") or "-",
                states=_count_states(trials),
                best=best,
            )
        )
    return sorted(rows, key=lambda r: r.name)


def format_studies(rows: list[StudyRow]) -> str:
    """The table of ``hpo studies``."""
    header = ["study", "objective", "metric", *[s.lower() for s in STATES], "best"]
    table = [header] + [
        [
            r.name,
            r.objective,
            r.metric,
            *[str(r.states.get(s, 0)) for s in STATES],
            "-" if r.best is None else f"{r.best:.4f}",
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table)


def study_status(stored: StoredStudy, now: datetime | None = None) -> dict[str, Any]:
    """Trials by state, the best trial so far with its verdicts, running trials with their age,
    recent failures, the zero-shot baselines and the spend so far.

    Confirmation runs (``hpo confirm``) are counted apart: they are outside the search budget.
    """
    from hpo.verdicts.trials import trial_verdicts  # the tasks' modules: not needed by hpo studies

    study, config = stored.study, stored.config
    everything = study.get_trials(deepcopy=False)
    trials = search_trials(everything)
    confirmations = confirmation_trials(everything)
    now = now or datetime.now()
    status: dict[str, Any] = {
        "study": study.study_name,
        "objective": config.objective,
        "metric": f"{config.metric_name} ({config.direction})",
        "budget": config.budget.n_trials,
        "states": _count_states(trials),
        "confirmation_states": _count_states(confirmations) if confirmations else {},
        "best": None,
        "verdicts": [],
        "spend": {**study_spend(everything).to_dict(), "max_cost": config.budget.max_cost},
        "running": [
            {
                "trial": t.number,
                "age_seconds": round((now - t.datetime_start).total_seconds()) if t.datetime_start else None,
                "last_step": t.last_step,
                "params": t.params,
            }
            for t in everything
            if t.state.name == "RUNNING"
        ],
        "failed": [
            {"trial": t.number, "reason": t.user_attrs.get(attrs.FAIL_REASON, "unknown")}
            for t in everything
            if t.state.name == "FAIL"
        ],
    }
    status["baselines"] = {
        model: {split: result[split]["value"] for split in ("dev", "test") if split in result}
        for model, result in study.user_attrs.get(attrs.BASELINES, {}).items()
    }
    status["baseline_corpus"] = {
        model: {split: result[split].get("corpus", "") for split in ("dev", "test") if split in result}
        for model, result in study.user_attrs.get(attrs.BASELINES, {}).items()
    }
    ranked = ranked_complete(trials, config.direction)
    if ranked:
        best = ranked[0]
        status["best"] = {
            "trial": best.number,
            "value": best.value,
            "corpus": best.user_attrs.get(attrs.EVAL_CORPUS),
            "params": best.params,
        }
        status["verdicts"] = [row.to_dict() | {"line": row.describe()} for row in trial_verdicts(study, config, best)]
    return status


def _count_states(trials: list[optuna.trial.FrozenTrial]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts


def _best_value(trials: list[optuna.trial.FrozenTrial], direction: str) -> float | None:
    values = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    if not values:
        return None
    return max(values) if direction == "maximize" else min(values)


def format_status(status: dict[str, Any]) -> str:
    """The text form of :func:`study_status`."""
    states = ", ".join(f"{n} {s.lower()}" for s, n in status["states"].items())
    lines = [
        f"study:     {status['study']} ({status['objective']}, {status['metric']})",
        f"trials:    {states} (budget {status['budget']})",
    ]
    if status.get("confirmation_states"):
        confirming = ", ".join(f"{n} {s.lower()}" for s, n in status["confirmation_states"].items() if n)
        lines.append(f"confirm:   {confirming} (hpo confirm runs, outside the budget; see hpo confirm --report)")
    best = status["best"]
    if best is None:
        lines.append("best:      none yet")
    else:
        params = ", ".join(f"{k}={_short(v)}" for k, v in best["params"].items())
        lines.append(f"best:      trial {best['trial']}: {best['value']:.4f} on {best['corpus']} ({params})")
    lines += [f"verdict:   {row['line']}" for row in status.get("verdicts", [])]
    corpora = status.get("baseline_corpus", {})
    for model, scores in status["baselines"].items():
        values = ", ".join(
            f"{split} {value:.4f} on {corpora.get(model, {}).get(split) or '?'}" for split, value in scores.items()
        )
        lines.append(f"baseline:  {model} zero-shot: {values}")
    spend = status.get("spend")
    if spend and spend["device_seconds"]:
        cap = f"; budget.max_cost ${spend['max_cost']:g}" if spend.get("max_cost") else ""
        lines.append(f"spend:     {_spend_line(spend)}{cap}")
    for run in status["running"]:
        lines.append(f"running:   trial {run['trial']}, {run['age_seconds']} s, last step {run['last_step']}")
    for failed in status["failed"]:
        lines.append(f"failed:    trial {failed['trial']}: {failed['reason']}")
    return "\n".join(lines)


def _spend_line(spend: dict[str, Any]) -> str:
    """Dollars when trials have prices; else the device hours, and that there are no prices ($0.00 reads as free)."""
    hours = ", ".join(f"{seconds / 3600:.2f} h {device}" for device, seconds in spend["device_seconds_by_type"].items())
    if not spend["priced_trials"]:
        return f"{hours} of device time over {spend['unpriced_trials']} trials; {NO_PRICES}"
    unpriced = f"; {spend['unpriced_trials']} trials without a price" if spend["unpriced_trials"] else ""
    return f"${spend['dollars']:.2f} over {spend['priced_trials']} priced trials ({hours}{unpriced})"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
