"""Short, unique labels for the parameters in a study's plots.

Optuna names a loss parameter ``<Loss>.<param>``: on a parallel-coordinates axis,
``MultipleNegativesRankingLoss.scale`` and ``CachedMultipleNegativesRankingLoss.scale`` are cut
to the same prefix, and long names overlap under a slice plot. The plots are drawn from an
in-memory copy of the study's search trials in which a loss name becomes its capital letters
(``MNRL.scale``, ``CMNRL.scale``), the training hyperparameters short words (``lr``, ``batch``),
and a model path its last part. Labels stay unique: a clash keeps the full names.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from hpo.store.trial_kinds import search_trials

if TYPE_CHECKING:
    import optuna

SHORT = {
    "learning_rate": "lr",
    "batch_size": "batch",
    "warmup_ratio": "warmup",
    "weight_decay": "wd",
    "max_seq_length": "max_len",
    "scheduler": "sched",
}


def short_label(name: str) -> str:
    """``MultipleNegativesRankingLoss.scale`` -> ``MNRL.scale``; ``learning_rate`` -> ``lr``."""
    if "." in name:
        prefix, param = name.rsplit(".", 1)
        return f"{_initials(prefix)}.{SHORT.get(param, param)}"
    return SHORT.get(name, name)


def _initials(name: str) -> str:
    return "".join(re.findall(r"[A-Z0-9]", name)) or name


def short_labels(names: Iterable[str]) -> dict[str, str]:
    """Each name's short label; names whose short labels clash keep their full names."""
    names = list(dict.fromkeys(names))
    labels = {name: short_label(name) for name in names}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    chosen = {name: label if counts[label] == 1 else name for name, label in labels.items()}
    return chosen if len(set(chosen.values())) == len(chosen) else {name: name for name in names}


def short_value(name: str, value: Any) -> Any:
    """A loss by its initials (``OCL``), a model path by its last part; other values as they are."""
    if name == "loss" and isinstance(value, str):
        return _initials(value)
    if isinstance(value, str) and ("/" in value or "\\" in value) and len(value) > 24:
        return PurePath(value).name or value
    return value


def plotting_copy(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study's complete and pruned search trials, with short labels."""
    import optuna

    trials = [
        t
        for t in search_trials(study.get_trials(deepcopy=False))
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    ]
    labels = short_labels(name for t in trials for name in t.params)
    values = _value_labels(trials)
    distributions = _covering(trials, values)
    copy = optuna.create_study(direction=study.direction, storage=optuna.storages.InMemoryStorage())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        copy.set_metric_names(study.metric_names or ["value"])
    for trial in trials:
        copy.add_trial(
            optuna.trial.create_trial(
                state=trial.state,
                value=trial.value if trial.state == optuna.trial.TrialState.COMPLETE else None,
                params={labels[k]: values.get((k, repr(v)), v) for k, v in trial.params.items()},
                distributions={labels[k]: distributions[k] for k in trial.params},
                intermediate_values=dict(trial.intermediate_values),
            )
        )
    return copy


def _value_labels(trials: list[optuna.trial.FrozenTrial]) -> dict[tuple[str, str], Any]:
    """(param, repr(value)) -> a short value, for categorical values that shorten uniquely."""
    found: dict[str, set[Any]] = {}
    for trial in trials:
        for name, value in trial.params.items():
            if isinstance(value, str):
                found.setdefault(name, set()).add(value)
    labels: dict[tuple[str, str], Any] = {}
    for name, values in found.items():
        short = {value: short_value(name, value) for value in values}
        if len(set(short.values())) == len(short):
            labels.update({(name, repr(value)): label for value, label in short.items()})
    return labels


def _covering(
    trials: list[optuna.trial.FrozenTrial], values: dict[tuple[str, str], Any]
) -> dict[str, optuna.distributions.BaseDistribution]:
    """One distribution per parameter that holds every trial's (short) value.

    A queued trial may fix a value outside the searched range (``hpo confirm`` does not, a hand-queued
    trial can), and a plot refuses a value its distribution does not hold.
    """
    import optuna

    covering: dict[str, optuna.distributions.BaseDistribution] = {}
    for trial in trials:
        for name, distribution in trial.distributions.items():
            value = values.get((name, repr(trial.params[name])), trial.params[name])
            current = covering.get(name, distribution)
            if isinstance(current, optuna.distributions.CategoricalDistribution):
                choices = [values.get((name, repr(c)), c) for c in current.choices]
                covering[name] = optuna.distributions.CategoricalDistribution(list(dict.fromkeys([*choices, value])))
            elif isinstance(current, (optuna.distributions.FloatDistribution, optuna.distributions.IntDistribution)):
                low, high = min(current.low, value), max(current.high, value)
                if (low, high) == (current.low, current.high):
                    covering[name] = current
                elif isinstance(current, optuna.distributions.FloatDistribution):
                    covering[name] = optuna.distributions.FloatDistribution(low, high, log=current.log and low > 0)
                else:
                    covering[name] = optuna.distributions.IntDistribution(
                        int(low), int(high), log=current.log and low > 0
                    )
            else:
                covering[name] = current
    return covering
