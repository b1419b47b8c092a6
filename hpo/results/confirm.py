"""``hpo confirm``: retrain the search's top configs with other seeds, then name the best on average.

A search picks its best trial by one dev value, trained with one seed; seeds alone move a
fine-tuned model, and the top trials were chosen because their value was high, so that value is
biased upward. Confirmation retrains each of the top-K configs (distinct params) with S new seeds
(the config's seed + 1 ... + S; the search's own run is not reused, it was selected) and compares
the configs by their mean over those seeds, with a paired bootstrap over the dev items and the
seeds (:func:`hpo.stats.significance.bootstrap_runs`).

The runs are ordinary trials of the same study, queued as WAITING with the config's params fixed
and two marks (:data:`hpo.attrs.CONFIRMS`, the search trial's number; :data:`hpo.attrs.SEED`),
so any worker runs them. They are outside the search: not counted in ``budget.n_trials``, never
pruned, never the study's best trial. Their cost counts toward ``budget.max_cost`` like any
device time. The sampler and the pruner do see them: they are complete trials, more observations
of the objective at params already tried (another seed), not new points; their values at each
step raise the pruner's bar for search trials that run after them, which is why ``hpo confirm`` is
meant for after the search.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.errors import StudyError, UsageError
from hpo.progress import describe_params
from hpo.settings.config import MAX_SEED
from hpo.stats.item_scores import ItemScores, read_record
from hpo.store.study import StoredStudy
from hpo.store.trial_kinds import confirmation_trials, ranked_complete
from hpo.verdicts.notes import update_study_note
from hpo.verdicts.paired import VerdictRow, compare_runs

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueuedRun:
    """One confirmation run: the search trial it retrains, its seed, and whether this call queued it."""

    trial: int
    seed: int
    queued_now: bool


def queue_confirmation(stored: StoredStudy, top_k: int, seeds: int) -> list[QueuedRun]:
    """Queue ``seeds`` runs of each of the ``top_k`` best distinct configs; runs already queued are kept.

    Calling it again with a larger ``top_k`` or ``seeds`` adds only the missing runs.
    """
    if top_k < 1 or seeds < 1:
        raise UsageError(f"--top-k {top_k} --seeds {seeds}: give 1 or more of each")
    study, config = stored.study, stored.config
    if config.seed + seeds > MAX_SEED:  # the runs' seeds follow the study's: no run may get one numpy refuses
        raise UsageError(
            f"--seeds {seeds}: the study's seed {config.seed} + {seeds} exceeds the largest seed {MAX_SEED}; give fewer"
        )
    trials = study.get_trials(deepcopy=False)
    chosen = _distinct(ranked_complete(trials, config.direction))[:top_k]
    if not chosen:
        raise StudyError(f"study '{study.study_name}' has no complete search trial to confirm yet")
    if len(chosen) < top_k:
        logger.warning(
            "study '%s' has %d distinct complete configs, fewer than --top-k %d: confirming those",
            study.study_name,
            len(chosen),
            top_k,
        )
    existing = {
        (int(t.user_attrs[attrs.CONFIRMS]), int(t.user_attrs.get(attrs.SEED, -1)))
        for t in confirmation_trials(trials)
        if t.state.name != "FAIL"  # a failed run has a queued replacement with the same marks
    }
    runs = []
    for trial in chosen:
        for seed in range(config.seed + 1, config.seed + 1 + seeds):
            new = (trial.number, seed) not in existing
            if new:
                study.enqueue_trial(dict(trial.params), user_attrs={attrs.CONFIRMS: trial.number, attrs.SEED: seed})
            runs.append(QueuedRun(trial.number, seed, new))
    update_study_note(study, config)
    return runs


def _distinct(ranked: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The best trial of each distinct set of params, best first."""
    seen: set[str] = set()
    kept = []
    for trial in ranked:
        key = json.dumps(trial.params, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            kept.append(trial)
    return kept


@dataclass(frozen=True)
class ConfigRuns:
    """One confirmed config: its search trial, its confirmation runs, their mean and spread."""

    trial: int
    search_value: float
    params: dict[str, Any]
    values: dict[int, float]  # seed -> dev value of each complete run
    items: list[ItemScores | None]
    pending: int  # runs not finished yet

    @property
    def mean(self) -> float | None:
        return statistics.mean(self.values.values()) if self.values else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.values.values()) if len(self.values) > 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "search_value": self.search_value,
            "params": self.params,
            "runs": {str(seed): value for seed, value in self.values.items()},
            "mean": self.mean,
            "sd": self.sd,
            "pending": self.pending,
        }


@dataclass(frozen=True)
class ConfirmationReport:
    """The confirmed configs, best mean first; the winner and its verdicts against the others."""

    study: str
    metric: str
    corpus: str
    configs: list[ConfigRuns]
    search_best: int | None
    verdicts: list[VerdictRow] = field(default_factory=list)

    @property
    def winner(self) -> ConfigRuns | None:
        return self.configs[0] if self.configs and self.configs[0].values else None

    @property
    def pending(self) -> int:
        return sum(c.pending for c in self.configs)

    def to_dict(self) -> dict[str, Any]:
        winner = self.winner
        return {
            "metric": self.metric,
            "corpus": self.corpus,
            "configs": [c.to_dict() for c in self.configs],
            "winner": winner.trial if winner else None,
            "search_best": self.search_best,
            "search_best_stayed_best": winner is not None and winner.trial == self.search_best,
            "verdicts": [v.to_dict() for v in self.verdicts],
            "pending": self.pending,
        }

    def describe(self) -> str:
        """The text ``hpo confirm --report`` prints."""
        if not self.configs:
            return f"study '{self.study}' has no confirmation runs (queue them: hpo confirm --study {self.study})"
        corpus = f" ({self.corpus})" if self.corpus else ""  # pair tasks score no corpus
        lines = [f"confirmation of study {self.study}: {self.metric} on dev{corpus}, mean ± sd over seeds"]
        header = ["config", "search", "runs", "mean", "sd", "params"]
        body = [
            [
                f"trial {c.trial}",
                f"{c.search_value:.4f}",
                f"{len(c.values)}" + (f" (+{c.pending} pending)" if c.pending else ""),
                "-" if c.mean is None else f"{c.mean:.4f}",
                "-" if c.sd is None else f"{c.sd:.4f}",
                describe_params(c.params),
            ]
            for c in self.configs
        ]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        lines += [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *body]
        ]
        winner = self.winner
        if winner is not None:
            stayed = (
                "stayed best"
                if winner.trial == self.search_best
                else f"did not stay best (trial {self.search_best} was)"
            )
            lines.append(
                f"winner: trial {winner.trial} (best mean over {len(winner.values)} seeds); the search's best {stayed}"
            )
        lines += [f"verdict: {row.describe()}" for row in self.verdicts]
        if self.pending:
            lines.append(f"{self.pending} runs not finished: run hpo worker --study {self.study}, then report again")
        return "\n".join(lines)


def confirmation_report(stored: StoredStudy) -> ConfirmationReport:
    """Mean ± sd of each confirmed config's runs, and the winner's verdicts against the others."""
    from objectives.registry import get_task

    study, config = stored.study, stored.config
    trials = study.get_trials(deepcopy=False)
    by_number = {t.number: t for t in trials}
    runs: dict[int, list[optuna.trial.FrozenTrial]] = {}
    for run in confirmation_trials(trials):
        runs.setdefault(int(run.user_attrs[attrs.CONFIRMS]), []).append(run)
    configs = []
    for number, group in runs.items():
        complete = [r for r in group if r.state.name == "COMPLETE" and r.value is not None]
        source = by_number.get(number)
        configs.append(
            ConfigRuns(
                trial=number,
                search_value=float(source.value) if source is not None and source.value is not None else float("nan"),
                params=dict(source.params) if source is not None else dict(group[0].params),
                values={int(r.user_attrs.get(attrs.SEED, -1)): float(r.value or 0.0) for r in complete},
                items=[read_record(r.user_attrs.get(attrs.ITEM_SCORES)) for r in complete],
                pending=sum(r.state.name in ("WAITING", "RUNNING") for r in group),
            )
        )
    sign = 1.0 if config.direction == "maximize" else -1.0
    configs.sort(key=lambda c: (c.mean is None, -sign * (c.mean or 0.0), c.trial))
    ranked = ranked_complete(trials, config.direction)
    corpus = next(
        (str(r.user_attrs.get(attrs.EVAL_CORPUS)) for g in runs.values() for r in g if r.value is not None), ""
    )
    report = ConfirmationReport(
        study.study_name, config.metric_name, corpus, configs, ranked[0].number if ranked else None
    )
    winner = report.winner
    if winner is None:
        return report
    task = get_task(config.objective)
    verdicts = []
    for other in configs[1:]:
        if not other.values:
            continue
        row = VerdictRow(
            f"trial {winner.trial} config", f"trial {other.trial} config", "dev", config.metric_name, corpus, None
        )
        ours, theirs = winner.items, other.items
        if any(i is None for i in [*ours, *theirs]):
            verdicts.append(VerdictRow(**{**row.__dict__, "reason": "a run kept no item scores"}))
            continue
        try:
            comparison = compare_runs(
                task, [i for i in ours if i], [i for i in theirs if i], config.metric_name, config
            )
        except ValueError as exc:
            verdicts.append(VerdictRow(**{**row.__dict__, "reason": str(exc)}))
            continue
        verdicts.append(VerdictRow(**{**row.__dict__, "comparison": comparison}))
    return ConfirmationReport(report.study, report.metric, corpus, configs, report.search_best, verdicts)


def confirmed_winner(stored: StoredStudy) -> tuple[optuna.trial.FrozenTrial, ConfirmationReport]:
    """The search trial of the confirmed winner, for ``hpo best --confirmed``; an error until every run finished."""
    report = confirmation_report(stored)
    name = stored.study.study_name
    if report.winner is None:
        raise StudyError(f"study '{name}' has no complete confirmation run (queue them: hpo confirm --study {name})")
    if report.pending:
        raise StudyError(
            f"study '{name}': {report.pending} confirmation runs are not finished (run: hpo worker --study {name})"
        )
    trial = next((t for t in stored.study.get_trials(deepcopy=False) if t.number == report.winner.trial), None)
    if trial is None:
        raise StudyError(f"study '{name}': the confirmed trial {report.winner.trial} is missing")
    return trial, report
