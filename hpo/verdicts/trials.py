"""The verdicts a study shows on dev: a trial against the next best search trial and against each
zero-shot baseline (``hpo status``, the dashboard note, ``hpo best``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.settings.config import StudyConfig
from hpo.stats.item_scores import read_record
from hpo.store.trial_kinds import ranked_complete
from hpo.verdicts.paired import VerdictRow, verdict_row

if TYPE_CHECKING:
    import optuna


def trial_verdicts(study: optuna.Study, config: StudyConfig, trial: optuna.trial.FrozenTrial) -> list[VerdictRow]:
    """``trial`` against the best other complete search trial (the runner-up, when ``trial`` is the
    best), the default recipe's trial (when the study ran one) and each stored zero-shot baseline,
    on the dev items both were scored on."""
    from objectives.registry import get_task

    task = get_task(config.objective)
    ranked = ranked_complete(study.get_trials(deepcopy=False), config.direction)
    label = f"trial {trial.number}"
    candidate = (label, read_record(trial.user_attrs.get(attrs.ITEM_SCORES)))
    corpus = str(trial.user_attrs.get(attrs.EVAL_CORPUS, "dev"))
    rows = []
    others = [t for t in ranked if t.number != trial.number]
    if others:
        other = others[0]
        role = "runner-up" if ranked[0].number == trial.number else "best"
        reference = (f"trial {other.number} ({role})", read_record(other.user_attrs.get(attrs.ITEM_SCORES)))
        rows.append(verdict_row(task, config, candidate, reference, "dev", corpus))
    recipe = next((t for t in ranked if t.user_attrs.get(attrs.DEFAULT_RECIPE)), None)
    if recipe is not None and recipe.number != trial.number:
        reference = (f"trial {recipe.number} (default recipe)", read_record(recipe.user_attrs.get(attrs.ITEM_SCORES)))
        rows.append(verdict_row(task, config, candidate, reference, "dev", corpus))
    baselines: dict[str, Any] = study.user_attrs.get(attrs.BASELINES, {})
    for model, record in baselines.items():
        dev = record.get("dev", {}) if isinstance(record, dict) else {}
        reference = (f"{model} (zero-shot)", read_record(dev.get("items")))
        rows.append(verdict_row(task, config, candidate, reference, "dev", corpus))
    return rows
