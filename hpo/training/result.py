"""What a training run talks to and what it returns: the reporter, the pruned signal, the result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hpo import attrs
from hpo.stats.item_scores import ItemScores
from hpo.training.mining import MiningRecord
from hpo.training.stopwatch import rounded


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

    def __init__(
        self,
        samples: int,
        value: float,
        eval_corpus: str,
        seconds: dict[str, float] | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"pruned after {samples} training samples (metric {value:.4f})")
        self.samples = samples
        self.value = value
        self.eval_corpus = eval_corpus
        self.seconds = seconds or {}
        self.attrs = attrs or {}  # more trial attributes of the pruned run (e.g. what mining cost)


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
    mining: MiningRecord | None = None  # what getting mined hard negatives cost, when the run used them
    dimensions: dict[int, float] = field(default_factory=dict)  # the metric at each Matryoshka dimension
    items: ItemScores | None = None  # the final evaluation's score of each dev item
    seed: int | None = None  # the training seed
    encode_texts_per_second: float | None = None  # over the run's evaluations (hpo.training.encode_meter)
    embedding_dim: int | None = None

    def user_attrs(self) -> dict[str, Any]:
        extra: dict[str, Any] = self.mining.user_attrs() if self.mining is not None else {}
        if self.dimensions:
            extra[attrs.DIMENSION_METRICS] = {str(dim): value for dim, value in self.dimensions.items()}
        if self.items is not None:
            extra[attrs.ITEM_SCORES] = self.items.to_record()
        if self.encode_texts_per_second is not None:
            extra[attrs.ENCODE_PER_SECOND] = round(self.encode_texts_per_second, 2)
        if self.embedding_dim is not None:
            extra[attrs.EMBEDDING_DIM] = self.embedding_dim
        return {
            **extra,
            attrs.METRICS: self.metrics,
            attrs.METRIC_KEY: self.metric_key,
            attrs.SAMPLES_SEEN: self.samples_seen,
            attrs.TRAIN_SECONDS: round(self.train_seconds, 3),
            attrs.EVAL_SECONDS: round(self.eval_seconds, 3),
            attrs.TRAIN_SAMPLES_PER_SECOND: round(self.train_samples_per_second, 3),
            attrs.PEAK_MEMORY_MB: round(self.peak_memory_mb, 1),
            attrs.MEMORY_KIND: self.memory_kind,
            attrs.DEVICE: self.device,
            attrs.EVAL_CORPUS: self.eval_corpus,
            attrs.INTERMEDIATE_CORPUS: self.intermediate_corpus,
            attrs.SECONDS: rounded(self.seconds),
        }
