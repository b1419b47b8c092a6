"""What each objective needs and offers: data columns, losses and their parameters, metrics.

Kept free of heavy imports so config validation and ``hpo --help`` stay fast. The losses are a
fixed registry: a config names one of these, never an importable path.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from objectives.base import Objective


@dataclass(frozen=True)
class LossSpec:
    """A loss a config may name, and the types of the keyword parameters it may set."""

    name: str
    params: Mapping[str, type]


@dataclass(frozen=True)
class ObjectiveSpec:
    """Static description of an objective, used to validate configs before anything loads."""

    name: str
    module: str
    required_columns: tuple[str, ...]
    optional_columns: tuple[str, ...]
    losses: dict[str, LossSpec]
    metric_pattern: re.Pattern[str]
    metric_examples: tuple[str, ...]
    default_metric: str
    batch_sampler: str = "batch_sampler"
    column_help: dict[str, str] = field(default_factory=dict)

    def check_metric(self, metric: str) -> bool:
        return self.metric_pattern.fullmatch(metric) is not None


_SCALE = {"scale": float}
_MARGIN = {"margin": float}

OBJECTIVES: dict[str, ObjectiveSpec] = {
    "retrieval": ObjectiveSpec(
        name="retrieval",
        module="objectives.retrieval",
        required_columns=("query",),
        optional_columns=("positive", "relevant_ids", "query_id"),
        losses={
            "MultipleNegativesRankingLoss": LossSpec("MultipleNegativesRankingLoss", _SCALE),
            "CachedMultipleNegativesRankingLoss": LossSpec(
                "CachedMultipleNegativesRankingLoss", {**_SCALE, "mini_batch_size": int}
            ),
            "MultipleNegativesSymmetricRankingLoss": LossSpec("MultipleNegativesSymmetricRankingLoss", _SCALE),
        },
        metric_pattern=re.compile(r"(ndcg|mrr|map|recall|precision|accuracy)@[1-9][0-9]*"),
        metric_examples=("ndcg@10", "mrr@10", "map@100", "recall@10", "accuracy@1"),
        default_metric="ndcg@10",
        batch_sampler="no_duplicates",
        column_help={
            "query": "the question text",
            "positive": "a relevant passage text",
            "relevant_ids": "list of corpus ids relevant to the query (needs data.corpus)",
            "query_id": "a stable id of the query",
        },
    ),
    "pair-classification": ObjectiveSpec(
        name="pair-classification",
        module="objectives.pair_classification",
        required_columns=("text1", "text2", "label"),
        optional_columns=(),
        losses={
            "OnlineContrastiveLoss": LossSpec("OnlineContrastiveLoss", _MARGIN),
            "ContrastiveLoss": LossSpec("ContrastiveLoss", {**_MARGIN, "size_average": bool}),
        },
        metric_pattern=re.compile(r"ap|accuracy|f1|precision|recall|mcc"),
        metric_examples=("ap", "accuracy", "f1", "precision", "recall", "mcc"),
        default_metric="ap",
        column_help={
            "text1": "first text of the pair",
            "text2": "second text of the pair",
            "label": "1 if the pair matches (duplicate), else 0",
        },
    ),
}


def load_objective(name: str) -> Objective:
    """Import the objective's module (torch and all) and return its objective instance."""
    module = importlib.import_module(OBJECTIVES[name].module)
    objective: Objective = module.OBJECTIVE
    return objective
