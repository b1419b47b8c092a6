"""The ``study.yaml`` a plan stands for: the same file format a user writes, so a tune run is
reproducible and editable (``hpo create-study --config out/study.yaml`` gives the same study)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hpo.tune.infer import Inferred
from hpo.tune.plan import Plan

if TYPE_CHECKING:
    from hpo.training.task import Task

# Search ranges of loss parameters, by parameter name: what the literature and the libraries' own
# defaults suggest; a parameter not named here keeps its library default.
LOSS_PARAM_RANGES: Mapping[str, Any] = {
    "scale": {"type": "float", "low": 10.0, "high": 50.0},
    "margin": {"type": "float", "low": 0.2, "high": 0.8},
    "mini_batch_size": 32,
}
SEQUENCE_LENGTHS = (64, 128, 256, 384)
LEARNING_RATES = {"type": "float", "low": 1.0e-5, "high": 2.0e-4, "log": True}  # holds the recipe's 2e-5
WARMUP = {"type": "float", "low": 0.0, "high": 0.2}  # holds the recipe's 0.1
HEADER = (
    "# Written by hpo tune: the study it ran, in the format of a hand-written config.\n"
    "# Edit and run it yourself with: hpo create-study --config study.yaml\n"
)


def study_config(name: str, task: Task[Any], inferred: Inferred, plan: Plan, max_seq_length: int) -> dict[str, Any]:
    """The study config mapping for ``plan`` on the inferred data."""
    data = inferred.data_section()
    for key, value in (
        ("max_train_samples", plan.max_train_samples),
        ("max_dev_queries", plan.max_dev_items),
        ("max_test_queries", plan.max_test_items),
    ):
        if value is not None:
            data[key] = value
    config: dict[str, Any] = {
        "study_name": name,
        "objective": task.name,
        "seed": 42,
        "data": data,
        "metric": task.metrics.default,
        "search_space": _space(task, plan, max_seq_length),
        "evaluation": _evaluation(plan),
        "sampler": {"type": "tpe", "n_startup_trials": max(2, min(8, plan.n_trials // 3))},
        "pruner": {
            "type": "median",
            "n_startup_trials": max(2, plan.n_trials // 5),
            "n_warmup_steps": plan.every_samples,
        },
        "budget": {"n_trials": plan.n_trials},
        "warm_start": {"default_recipe": True},
    }
    return config


def _space(task: Task[Any], plan: Plan, max_seq_length: int) -> dict[str, Any]:
    models: Any = plan.models[0] if len(plan.models) == 1 else {"type": "categorical", "choices": list(plan.models)}
    losses = {
        name: {p: LOSS_PARAM_RANGES[p] for p in spec.params if p in LOSS_PARAM_RANGES}
        for name, spec in task.losses.items()
        if spec.negatives == "any" or plan.hard_negatives
    }
    batches: Any = (
        plan.batch_sizes[0]
        if len(plan.batch_sizes) == 1
        else {"type": "categorical", "choices": list(plan.batch_sizes)}
    )
    low, high = plan.epochs
    space: dict[str, Any] = {
        "model": models,
        "loss": losses,
        "learning_rate": LEARNING_RATES,
        "batch_size": batches,
        "epochs": low if low == high else {"type": "int", "low": low, "high": high},
        "warmup_ratio": WARMUP,
        "max_seq_length": max_seq_length,
    }
    if plan.hard_negatives:
        space["hard_negatives"] = {
            "miner": {"type": "categorical", "choices": ["none", "bm25"]},
            "num_negatives": 1,
            "range_min": 3,
            "range_max": 30,
        }
    return space


def _evaluation(plan: Plan) -> dict[str, Any]:
    evaluation: dict[str, Any] = {"every_samples": plan.every_samples, "batch_size": 64}
    if plan.corpus_cap is not None:
        evaluation["corpus_cap"] = plan.corpus_cap
    if plan.corpus_cap is not None or plan.final_corpus == "capped":
        evaluation["final_corpus"] = plan.final_corpus
    return evaluation


def sequence_length(texts: Sequence[str]) -> int:
    """The shortest usual ``max_seq_length`` that holds 95% of the texts (about 4 characters a token)."""
    if not texts:
        return 128
    lengths = sorted(len(t) for t in texts)
    tokens = lengths[int(0.95 * (len(lengths) - 1))] / 4 + 2
    return next((n for n in SEQUENCE_LENGTHS if n >= tokens), SEQUENCE_LENGTHS[-1])


def write_study_file(config: Mapping[str, Any], path: Path) -> None:
    """Write ``config`` as YAML (atomically: a half-written study file is never left)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(HEADER + yaml.safe_dump(dict(config), sort_keys=False, width=120), encoding="utf-8")
    partial.replace(path)
