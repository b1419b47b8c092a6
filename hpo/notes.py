"""The study's dashboard note: what the study is, in Markdown, kept current.

optuna-dashboard shows it on the study page: objective, data, metric, search space, budget, the
best trial so far and the zero-shot baselines. Rewritten at creation, after each complete trial
and after ``hpo baseline``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.config import StudyConfig
from hpo.space import FixedParam

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


def update_study_note(study: optuna.Study, config: StudyConfig) -> None:
    """Rewrite the note; a failure is logged, never fatal (the note is a view, not a record)."""
    try:
        from optuna_dashboard import save_note

        save_note(study, study_note(study, config))
    except Exception as exc:
        logger.warning("could not update the study note: %s", exc)


def study_note(study: optuna.Study, config: StudyConfig) -> str:
    summary = study.user_attrs.get(attrs.DATA_SUMMARY, {})
    lines = [
        f"## {study.study_name}: {config.objective}",
        "",
        f"**Metric**: {config.metric_name} on the dev split ({config.direction}). "
        "The test split is never used by the search.",
        "",
        "**Data**",
        "",
        *config.data.describe(),
        f"- loaded: {', '.join(f'{k} {v}' for k, v in summary.items())}",
        f"- fingerprint: `{study.user_attrs.get(attrs.FINGERPRINT, '')}`",
        "",
        "**Search space**",
        "",
        "| parameter | values |",
        "|---|---|",
        *[f"| {name} | {_values(param)} |" for name, param in _space_rows(config)],
        "",
        f"**Budget**: {config.budget.n_trials} trials; sampler {config.sampler.type}; pruner {config.pruner.type}; "
        f"intermediate evaluations every {config.evaluation.every_samples} training samples.",
        "",
        "**Best so far**: " + _best(study, config),
    ]
    baselines = study.user_attrs.get(attrs.BASELINES, {})
    if baselines:
        lines += ["", "**Zero-shot baselines**", "", "| model | dev | test |", "|---|---|---|"]
        for model, result in baselines.items():
            test = result.get("test", {}).get("value")
            lines.append(f"| {model} | {result['dev']['value']:.4f} | {'-' if test is None else f'{test:.4f}'} |")
    return "\n".join(lines) + "\n"


def _space_rows(config: StudyConfig) -> list[tuple[str, Any]]:
    space = config.search_space
    levers = ("hard_negatives", "matryoshka_dims")
    names = [name for name in type(space).model_fields if name != "loss" and name not in levers]
    rows: list[tuple[str, Any]] = [(name, getattr(space, name)) for name in names]
    rows.insert(1, ("loss", ", ".join(space.loss)))
    for loss, params in space.loss.items():
        rows += [(f"{loss}.{p}", spec) for p, spec in params.items()]
    mining = space.hard_negatives
    if mining.enabled():
        rows += [(f"hard_negatives.{k}", p) for k, p in {"miner": mining.miner, **mining.settings()}.items()]
        rows += [("hard_negatives.miner_model", mining.miner_model)] if mining.miner_model else []
    if space.matryoshka_dims:
        dims = space.matryoshka_dims
        rows.append(("matryoshka_dims", f"{dims} (fixed)" if isinstance(dims, list) else dims))
    return rows


def _values(param: Any) -> str:
    if isinstance(param, str):
        return param
    if isinstance(param, FixedParam):
        return f"{param.value} (fixed)"
    data = param.model_dump()
    if data["type"] == "categorical":
        return ", ".join(map(str, data["choices"]))
    return f"{data['low']} to {data['high']}" + (" (log)" if data.get("log") else "")


def _best(study: optuna.Study, config: StudyConfig) -> str:
    try:
        best = study.best_trial  # one indexed query on RDB storages, whatever the study's size
    except ValueError:
        return "no complete trial yet."
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
    return f"trial {best.number}, {config.metric_name} = {best.value:.4f} ({params})."
