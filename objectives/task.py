"""The task contract: everything hpo needs to know about one kind of fine-tuning.

A task is one module in this package and one line in :mod:`objectives.registry`. It owns:

- its inputs: the data column roles, documented as an Inputs table (see :class:`Column`);
- its losses and the parameters a search space may set on them;
- its metrics and default metric;
- loading and validating its data;
- the training dataset and the evaluators (capped and full);
- how the dev split joins training for the final model.

A task on text pairs with one gold value per pair derives from :class:`PairTask`, which brings the
training dataset, the dev join and the evaluator's shell.

Task modules import torch and sentence-transformers only inside the methods that train or
evaluate, so validating a config (and ``hpo --help``) stays fast. Imports run one way: tasks use
the core (config types, data readers, the training engine); the core never imports a task.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from hpo.data.fingerprint import TaskData
from hpo.data.pairs import PairData, PairSplit
from hpo.errors import unknown_key_message
from hpo.item_scores import ItemScores
from hpo.training.disk_cache import Memo, no_memo
from hpo.training.losses import LossSpec
from hpo.weighted_metrics import Array, WeightedMetric, mean

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
    from torch import nn

    from hpo.config import DataConfig, StudyConfig
    from hpo.space import TrainingParams
    from hpo.training.mining import MiningInputs

D = TypeVar("D", bound=TaskData)
P = TypeVar("P", bound=PairData)
Split = Literal["dev", "test"]


@dataclass(frozen=True)
class Column:
    """One row of a task's Inputs table: a column role, whether it is required, and what it holds."""

    role: str
    required: bool
    description: str


@dataclass(frozen=True)
class Metrics:
    """The metrics a task's evaluator reports: which names a config may choose, and the default."""

    pattern: re.Pattern[str]
    examples: tuple[str, ...]
    default: str
    table: tuple[str, ...]  # the columns of comparison tables (hpo train, hpo baseline)

    def allows(self, metric: str) -> bool:
        return self.pattern.fullmatch(metric) is not None


class Task(abc.ABC, Generic[D]):
    """A fine-tuning task; subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]
    columns: ClassVar[tuple[Column, ...]]
    losses: ClassVar[Mapping[str, LossSpec]]
    metrics: ClassVar[Metrics]
    batch_sampler: ClassVar[str] = "batch_sampler"  # sentence-transformers' BatchSamplers value
    mines_negatives: ClassVar[bool] = False  # whether search_space.hard_negatives applies (mining_inputs)
    thresholds_from_dev: ClassVar[bool] = False  # test metrics use decision thresholds chosen on dev
    score_function: ClassVar[Literal["cosine", "dot", "euclidean", "manhattan"]] = "cosine"

    # --- config -------------------------------------------------------------------------------

    def check_config(self, config: StudyConfig) -> None:
        """Raise ValueError (one line) when the config asks what this task cannot do."""
        if not self.metrics.allows(config.metric_name):
            raise ValueError(
                f"metric '{config.metric_name}' is not reported by the {self.name} evaluator "
                f"(use one of: {', '.join(self.metrics.examples)})"
            )
        roles = [c.role for c in self.columns]
        for role in config.data.columns:
            if role not in roles:
                raise ValueError("data.columns: " + unknown_key_message(role, roles))
        config.search_space.check_losses(self.losses, self.name)
        if config.search_space.hard_negatives.enabled() and not self.mines_negatives:
            raise ValueError(f"search_space.hard_negatives: mined hard negatives are for retrieval, not {self.name}")

    def column_map(self, data: DataConfig) -> dict[str, str]:
        """Role -> source column: each required role defaults to the column of the same name."""
        return {**{c.role: c.role for c in self.columns if c.required}, **data.columns}

    # --- data ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def load_data(self, config: StudyConfig, include_test: bool = False) -> D:
        """Read, validate and split the data; the test split only when ``include_test``."""

    @abc.abstractmethod
    def with_dev_in_training(self, data: D) -> D:
        """The data with the dev split added to training (``hpo train --splits train,dev``)."""

    # --- training and evaluation ---------------------------------------------------------------

    @abc.abstractmethod
    def train_dataset(self, data: D) -> Any:
        """A ``datasets.Dataset`` with the columns this task's losses expect, in that order."""

    def mining_inputs(self, data: D) -> MiningInputs:
        """The training pairs, known relevant passages and candidate corpus a miner reads.

        Only tasks with ``mines_negatives`` implement it.
        """
        raise NotImplementedError(f"the {self.name} task does not mine hard negatives")

    def loss(self, model: SentenceTransformer, params: TrainingParams) -> nn.Module:
        """The loss ``params.loss`` with ``params.loss_params``."""
        return self.losses[params.loss].build(model, params.loss_params)

    @abc.abstractmethod
    def evaluator(
        self, data: D, config: StudyConfig, split: Split, capped: bool, memo: Memo = no_memo
    ) -> tuple[BaseEvaluator, str]:
        """An evaluator on ``split`` and a description of what it scores on (e.g. its corpus).

        ``memo`` keeps what is costly to choose and the same for every worker of the study (a
        capped corpus's ids): a worker passes one backed by the shared disk cache.
        """

    def evaluation_texts(self, data: D, split: Split) -> list[str]:
        """Every text the evaluator on ``split`` encodes (queries and the whole corpus, or both
        sides of each pair): tokenized once per study with the training texts."""
        return []

    def caps_corpus(self, data: D, config: StudyConfig, split: Split) -> bool:
        """Whether the capped evaluation on ``split`` scores less than the full one does."""
        return False

    def metric_key(self, metrics: Mapping[str, float], metric: str) -> str:
        """The key of ``metric`` among the evaluator's result keys.

        Evaluators name their keys ``<split>_<score function>_<metric>``; this picks ours among
        them rather than spelling the key by hand.
        """
        matches = [k for k in metrics if k.endswith(f"_{self.score_function}_{metric}")]
        if len(matches) != 1:
            raise KeyError(f"metric '{metric}' not among the evaluator's keys: {sorted(metrics)}")
        return matches[0]

    # --- per-item scores -----------------------------------------------------------------------

    def item_rows(self, items: ItemScores, metric: str) -> tuple[WeightedMetric, Array]:
        """How ``metric`` is computed from one model's item scores: a weighted metric and its rows.

        The default is the mean of a per-item score (retrieval: each query's NDCG@10); pair tasks
        compute their metrics from each pair's similarity and gold value.
        """
        if metric not in items.scores:
            raise ValueError(f"no per-item scores of {metric} were kept")
        return mean, items.scores[metric]

    def with_dev_thresholds(
        self, metrics: Mapping[str, float], test_items: ItemScores, dev_items: ItemScores
    ) -> dict[str, float]:
        """The test ``metrics`` with every decision threshold taken from dev (tasks that have thresholds)."""
        return dict(metrics)


PAIR_TEXTS = (Column("text1", True, "first text of the pair"), Column("text2", True, "second text of the pair"))


class PairTask(Task[P]):
    """A task on text pairs with one gold value per pair (a label or a score, ``label_role``)."""

    label_role: ClassVar[str]

    def with_dev_in_training(self, data: P) -> P:
        return data.with_dev_in_training()

    def train_dataset(self, data: P) -> Any:
        return data.train.to_dataset(self.label_role)

    def evaluation_texts(self, data: P, split: Split) -> list[str]:
        pairs = data.evaluation_split(split)
        return [*pairs.text1, *pairs.text2]

    def evaluator(
        self, data: P, config: StudyConfig, split: Split, capped: bool, memo: Memo = no_memo
    ) -> tuple[BaseEvaluator, str]:
        pairs = data.evaluation_split(split)
        return self.pair_evaluator(pairs, split, config.evaluation.batch_size), f"{len(pairs)} {split} pairs"

    @abc.abstractmethod
    def pair_evaluator(self, pairs: PairSplit, split: Split, batch_size: int) -> BaseEvaluator:
        """The evaluator of ``pairs`` (every pair; pair tasks have nothing to cap)."""
