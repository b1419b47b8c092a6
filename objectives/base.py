"""What every objective shares: the reporter it talks to, its result, and the Objective interface."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from objectives.stopwatch import rounded

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator
    from torch import nn

    from hpo.config import StudyConfig
    from hpo.data import StudyData
    from hpo.space import TrainingParams


class Reporter(Protocol):
    """Receives intermediate values; the worker's implementation forwards them to the Optuna trial."""

    def report(self, value: float, samples: int) -> None: ...

    def should_prune(self) -> bool: ...

    def progress(self, samples: int, total: int) -> None: ...


class NullReporter:
    """A reporter for runs outside a study (final training): records values, never prunes."""

    def __init__(self) -> None:
        self.values: dict[int, float] = {}

    def report(self, value: float, samples: int) -> None:
        self.values[samples] = value

    def should_prune(self) -> bool:
        return False

    def progress(self, samples: int, total: int) -> None:
        pass


class Pruned(Exception):  # noqa: N818 - mirrors optuna.TrialPruned
    """Raised when the reporter asked to stop; training has already stopped."""

    def __init__(self, samples: int, value: float, eval_corpus: str, seconds: dict[str, float] | None = None) -> None:
        super().__init__(f"pruned after {samples} training samples (metric {value:.4f})")
        self.samples = samples
        self.value = value
        self.eval_corpus = eval_corpus
        self.seconds = seconds or {}


@dataclass(frozen=True)
class RunResult:
    """What one training run produced; everything here goes into the trial's user attrs."""

    value: float
    metric_key: str
    metrics: dict[str, float]
    samples_seen: int
    train_seconds: float
    eval_seconds: float
    train_samples_per_second: float
    peak_memory_mb: float
    memory_kind: str
    device: str
    eval_corpus: str
    intermediate_corpus: str
    intermediate: dict[int, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def user_attrs(self) -> dict[str, Any]:
        return {
            "metrics": self.metrics,
            "metric_key": self.metric_key,
            "samples_seen": self.samples_seen,
            "train_seconds": round(self.train_seconds, 3),
            "eval_seconds": round(self.eval_seconds, 3),
            "train_samples_per_second": round(self.train_samples_per_second, 3),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "memory_kind": self.memory_kind,
            "device": self.device,
            "eval_corpus": self.eval_corpus,
            "intermediate_corpus": self.intermediate_corpus,
            "seconds": rounded(self.seconds),
        }


class Objective(abc.ABC):
    """A task: how to build its training dataset, loss and evaluators from the study's data."""

    name: str
    score_function: Literal["cosine", "dot", "euclidean", "manhattan"] = "cosine"

    @abc.abstractmethod
    def train_dataset(self, data: StudyData) -> Any:
        """A ``datasets.Dataset`` with the columns the task's losses expect, in that order."""

    def loss(self, model: SentenceTransformer, params: TrainingParams) -> nn.Module:
        """The loss named by ``params.loss`` with ``params.loss_params``, from the fixed registry."""
        from objectives.losses import build_loss

        return build_loss(model, params.loss, params.loss_params)

    @abc.abstractmethod
    def evaluator(self, data: StudyData, config: StudyConfig, split: str, capped: bool) -> tuple[BaseEvaluator, str]:
        """An evaluator on ``split`` ('dev' or 'test') and a description of what it scores on."""

    def caps_corpus(self, data: StudyData, config: StudyConfig, split: str) -> bool:
        """Whether the capped evaluation on ``split`` scores less than the full one does."""
        return False

    def metric_key(self, metrics: dict[str, float], metric: str) -> str:
        """The key of ``metric`` among the evaluator's own result keys.

        Evaluators name their keys ``<split>_<score function>_<metric>``; this picks ours among
        them rather than spelling the key by hand.
        """
        matches = [k for k in metrics if k.endswith(f"_{self.score_function}_{metric}")]
        if len(matches) != 1:
            raise KeyError(f"metric '{metric}' not among the evaluator's keys: {sorted(metrics)}")
        return matches[0]

    def batch_sampler(self) -> str:
        from objectives.registry import OBJECTIVES

        return OBJECTIVES[self.name].batch_sampler
