"""The study's dashboard note: what the study is, in Markdown, kept current.

optuna-dashboard shows it on the study page: objective, data, metric, search space, budget, the
best trial so far and the zero-shot baselines. Rewritten at creation, after each complete trial
and after ``hpo baseline``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.markdown import markdown_text
from hpo.settings.config import StudyConfig
from hpo.settings.params import FixedParam
from hpo.stats.cost import study_spend
from hpo.store.trial_kinds import confirmation_trials, ranked_complete

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


def update_study_note(
    study: optuna.Study, config: StudyConfig, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> None:
    """Rewrite the note; a failure is logged, never fatal (the note is a view, not a record).

    ``trials`` are the study's trials when the caller knows them (none, for a study just
    created: reading a queued budget of 100,000 trials back would cost a minute)."""
    try:
        from optuna_dashboard import save_note

        save_note(study, study_note(study, config, trials))
    except Exception as exc:
        logger.warning("could not update the study note: %s", exc)


def study_note(
    study: optuna.Study, config: StudyConfig, trials: Sequence[optuna.trial.FrozenTrial] | None = None
) -> str:
    if trials is None:
        trials = study.get_trials(deepcopy=False)  # once: each read goes through every queued trial
    summary = study.user_attrs.get(attrs.DATA_SUMMARY, {})
    lines = [
        f"## {study.study_name}: {config.objective}",
        "",
        f"**Metric**: {config.metric_name} on the dev split ({config.direction}). "
        "The test split is never used by the search.",
        "",
        "**Data**",
        "",
        *map(markdown_text, config.data.describe()),
        f"- loaded: {', '.join(f'{k} {v}' for k, v in summary.items())}",
        f"- fingerprint: `{study.user_attrs.get(attrs.FINGERPRINT, '')}`",
        "",
        "**Search space**",
        "",
        "| parameter | values |",
        "|---|---|",
        *[f"| {name} | {markdown_text(_values(param))} |" for name, param in _space_rows(config)],
        "",
        f"**Budget**: {config.budget.n_trials} trials; sampler {config.sampler.type}; pruner {config.pruner.type}; "
        f"intermediate evaluations every {config.evaluation.every_samples} training samples.",
        "",
        "**Best so far**: " + _best(trials, config),
    ]
    lines += _verdict_lines(study, config, trials)
    baselines = study.user_attrs.get(attrs.BASELINES, {})
    if baselines:
        lines += [
            "",
            "**Zero-shot baselines**",
            "",
            "| model | dev | scored on | test | scored on |",
            "|---|---|---|---|---|",
        ]
        for model, result in baselines.items():
            test = result.get("test", {})
            value = "-" if "value" not in test else f"{test['value']:.4f}"
            dev = result["dev"]
            cells = [markdown_text(model), f"{dev['value']:.4f}", dev.get("corpus", ""), value, test.get("corpus", "")]
            lines.append("| " + " | ".join(cells) + " |")
    spend = study_spend(trials)
    if spend.device_seconds:
        cap = f" (budget.max_cost ${config.budget.max_cost:g})" if config.budget.max_cost else ""
        lines += ["", f"**Spend so far**: {spend.describe()}{cap}."]
    confirming = confirmation_trials(trials)
    if confirming:
        done = sum(t.state.name == "COMPLETE" for t in confirming)
        lines += [
            "",
            f"**Confirmation**: {done} of {len(confirming)} runs complete "
            "(hpo confirm; outside the search budget; `hpo confirm --report` for the verdicts).",
        ]
    return "\n".join(lines) + "\n"


def _verdict_lines(study: optuna.Study, config: StudyConfig, trials: Sequence[optuna.trial.FrozenTrial]) -> list[str]:
    """The best trial against the runner-up and each baseline, on dev, as a Markdown list."""
    from hpo.verdicts.trials import trial_verdicts

    ranked = ranked_complete(trials, config.direction)
    if not ranked:
        return []
    rows = trial_verdicts(study, config, ranked[0])
    if not rows:
        return []
    header = (
        f"**Verdicts** (paired bootstrap, {config.significance.confidence:.0%} interval, min_gain "
        f"{config.significance.min_gain:g})"
    )
    return ["", header, "", *[f"- {row.describe()}" for row in rows]]


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


def _best(trials: Sequence[optuna.trial.FrozenTrial], config: StudyConfig) -> str:
    ranked = ranked_complete(trials, config.direction)
    if not ranked:
        return "no complete trial yet."
    best = ranked[0]
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
    corpus = best.user_attrs.get(attrs.EVAL_CORPUS, "dev")
    return f"trial {best.number}, {config.metric_name} = {best.value:.4f} on {corpus} ({markdown_text(params)})."
