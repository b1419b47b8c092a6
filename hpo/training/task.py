"""The task contract: everything hpo needs to know about one kind of fine-tuning.

A task is one module in this package and one line in :mod:`objectives.registry`. It owns:

- its inputs: the data column roles, documented as an Inputs table (see :class:`Column`);
- its losses and the parameters a search space may set on them;
- its metrics and default metric;
- the rules of what it accepts (:meth:`Task.check_params`), asked by every reader of a config,
  a best-trial file or a run's hyperparameters;
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
from hpo.errors import TrialError, close_match_hint, unknown_key_message
from hpo.settings.losses import LossSpec
from hpo.settings.params import has_kind
from hpo.settings.space import SearchSpace, TrainingParams
from hpo.stats.item_scores import ItemScores
from hpo.stats.weighted_metrics import Array, WeightedMetric, mean
from hpo.training.disk_cache import Memo, no_memo

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
    from torch import nn

    from hpo.settings.config import DataConfig, StudyConfig
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


@dataclass(frozen=True)
class ParamKeys:
    """How a caller names what :meth:`Task.check_params` reads, so that each error quotes the caller's keys.

    ``loss_params`` may hold ``{loss}``, the loss's name. ``give_negatives`` says how to give mined
    negatives to a loss that trains on them only; ``suggest``, whether an unknown name gets the
    closest allowed one as a hint.
    """

    loss: str
    loss_params: str
    hard_negatives: str
    give_negatives: str
    suggest: bool = True


SEARCH_SPACE_KEYS = ParamKeys(
    "search_space.loss",
    "search_space.loss.{loss}",
    "search_space.hard_negatives",
    "set search_space.hard_negatives.miner to bm25 or dense (not none)",
)
RUN_KEYS = ParamKeys("", "loss_params", "hard_negatives", "give hard_negatives a miner", suggest=False)


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
    # The default recipe's loss (:mod:`hpo.training.recipe`): the one a careful user would pick
    # without a search (None: the first of ``losses``), with the parameters it would set.
    default_loss: ClassVar[str | None] = None
    default_loss_params: ClassVar[Mapping[str, Any]] = {}
    data_settings: ClassVar[tuple[str, ...]] = ()  # which task-specific data keys apply (_DATA_SETTINGS)

    # --- config -------------------------------------------------------------------------------

    def check_config(self, config: StudyConfig) -> None:
        """Raise ValueError (one line) when the config asks what this task cannot do."""
        self.check_params(config.search_space, SEARCH_SPACE_KEYS, config.metric_name)
        roles = [c.role for c in self.columns]
        for role in config.data.columns:
            if role not in roles:
                raise ValueError("data.columns: " + unknown_key_message(role, roles))
        for key, what in _DATA_SETTINGS.items():
            if getattr(config.data, key) is not None and key not in self.data_settings:
                raise ValueError(f"data.{key}: it {what}, which the {self.name} task has not; remove it")

    def check_params(self, params: SearchSpace | TrainingParams, keys: ParamKeys, metric: str | None = None) -> None:
        """Raise ValueError (one line, naming ``keys``) unless this task accepts ``params`` and ``metric``.

        The one place that says what a task accepts: its metrics, its losses with their
        parameters' names, types and lower bounds, and mined hard negatives (a loss that trains on
        them only needs them in every run). ``params`` is a search space (every value it may draw
        is checked) or one run's hyperparameters.
        """
        if metric is not None and not self.metrics.allows(metric):
            raise ValueError(
                f"metric '{metric}' is not reported by the {self.name} evaluator "
                f"(use one of: {', '.join(self.metrics.examples)})"
            )
        losses, miners = _asked(params)
        for loss, values in losses.items():
            self._check_loss(loss, values, keys)
        if any(miner != "none" for miner in miners) and not self.mines_negatives:
            raise ValueError(_at(keys.hard_negatives, f"mined hard negatives are for retrieval, not {self.name}"))
        mined_only = [loss for loss in losses if self.losses[loss].negatives == "one"]
        if mined_only and "none" in miners:
            raise ValueError(_at(keys.loss, f"{mined_only[0]} trains on mined negatives only; {keys.give_negatives}"))

    def check_run(self, params: TrainingParams) -> None:
        """Raise :class:`~hpo.errors.TrialError` unless this task can train ``params`` (see :meth:`check_params`)."""
        try:
            self.check_params(params, RUN_KEYS)
        except ValueError as exc:
            raise TrialError(str(exc)) from None

    def check_data(self, config: StudyConfig, data: D) -> None:
        """Raise ValueError (one line) when a setting asks more than the loaded ``data`` holds.

        Asked once, before a study is written, with the data every trial will train on: the
        mining window of the largest ``range_min`` and ``num_negatives`` any trial may draw must
        fit in the passages a query can draw negatives from.
        """
        space = config.search_space.hard_negatives
        if not self.mines_negatives or not space.enabled():
            return
        inputs = self.mining_inputs(data)
        where = SEARCH_SPACE_KEYS.hard_negatives
        if not inputs.training_pairs():
            raise ValueError(
                f"{where}: every training pair's positive is a dev or test passage, so no negative can be mined; "
                "set miner to none or give training queries of their own passages"
            )
        low = max(int(v) for v in space.range_min.values() if v is not None)
        count = max(int(v) for v in space.num_negatives.values() if v is not None)
        room, candidates = mining_room(inputs)
        if low + count > room:
            raise ValueError(
                f"{where}: range_min ({low}) + num_negatives ({count}) exceeds the {room} passages a training query "
                f"can draw negatives from ({candidates} candidates less its positives); lower range_min or "
                "num_negatives, or give a larger data.corpus"
            )

    def _check_loss(self, loss: str, values: Mapping[str, list[Any]], keys: ParamKeys) -> None:
        """``loss`` is one of ours, and each of its parameters known, of its type and within its bound."""
        if loss not in self.losses:
            hint = close_match_hint(loss, list(self.losses)) if keys.suggest else ""
            allowed = ", ".join(self.losses)
            raise ValueError(_at(keys.loss, f"'{loss}' is not a {self.name} loss{hint} (allowed: {allowed})"))
        spec = self.losses[loss]
        where = keys.loss_params.format(loss=loss)
        for name, param_values in values.items():
            if name not in spec.params:
                hint = close_match_hint(name, list(spec.params)) if keys.suggest else ""
                raise ValueError(_at(where, f"unknown key '{name}'{hint} (allowed: {', '.join(spec.params)})"))
            kind, least = spec.params[name].__name__, spec.at_least.get(name)
            for value in param_values:
                if not has_kind(value, kind):
                    raise ValueError(f"{where}.{name}: {value!r} is not {kind}-valued")
                if least is not None and isinstance(value, (int, float)) and value < least:
                    raise ValueError(f"{where}.{name}: {value!r} is not allowed (needs >= {least})")

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


def _asked(params: SearchSpace | TrainingParams) -> tuple[dict[str, dict[str, list[Any]]], list[str]]:
    """Every loss ``params`` may train with every value of each of its parameters, and every miner it
    may use (``none``: in-batch negatives only)."""
    if isinstance(params, TrainingParams):
        miner = "none" if params.hard_negatives is None else params.hard_negatives.miner
        return {params.loss: {name: [value] for name, value in params.loss_params.items()}}, [miner]
    losses = {loss: {name: spec.values() for name, spec in specs.items()} for loss, specs in params.loss.items()}
    return losses, params.hard_negatives.miners()


# task-specific data keys: what each is for
_DATA_SETTINGS = {"score_range": "rescales similarity scores", "positive_label": "names the label of a matching pair"}


def mining_room(inputs: MiningInputs) -> tuple[int, int]:
    """The most passages any training query can draw negatives from (the candidates that are not
    its positives), and the number of candidates."""
    candidates = set(inputs.candidates())
    positives: dict[str, set[str]] = {}
    for query, passage in inputs.training_pairs():
        positives.setdefault(query, set(inputs.relevant.get(query, frozenset()))).add(passage)
    room = max((len(candidates - known) for known in positives.values()), default=0)
    return room, len(candidates)


def _at(key: str, message: str) -> str:
    """``message`` under ``key`` (a run's errors name no key)."""
    return f"{key}: {message}" if key else message


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
