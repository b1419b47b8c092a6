"""What one process builds once and every training run reuses.

A worker runs many trials on the same data and config: reading the base weights from disk,
building the training dataset and the evaluators (with their capped corpus), and tokenizing the
same texts again for every trial would be repeated work. A worker makes one cache and passes it
to each run; nothing here is module-level state.
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from hpo.training.matryoshka import evaluator_for
from hpo.training.mined_cache import MinedCache, default_cache_dir
from hpo.training.mined_datasets import MinedDatasets
from hpo.training.token_cache import TokenCache

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    from hpo.config import StudyConfig
    from hpo.space import TrainingParams
    from hpo.training.mining import MiningRecord
    from hpo.training.precision import Precision
    from objectives.task import Split, Task

logger = logging.getLogger(__name__)


class RunCache:
    """Base models, the training dataset, evaluators and tokens of one study's data and config."""

    def __init__(self, task: Task[Any], data: Any, config: StudyConfig, mined: MinedCache | None = None) -> None:
        self.task = task
        self.data = data
        self.config = config
        self._models: dict[tuple[str, str], SentenceTransformer] = {}
        self._tokens: dict[str, TokenCache] = {}
        self._evaluators: dict[tuple[Split, bool], tuple[BaseEvaluator, str]] = {}
        self._train_dataset: Any = None
        self._mined = MinedDatasets(task, data, config, mined or MinedCache(default_cache_dir() / "mined"))

    def model(self, name: str, device: str, max_seq_length: int | None) -> SentenceTransformer:
        """A fresh trainable copy of base model ``name``; its weights are read from disk once."""
        model = copy.deepcopy(self._base_model(name, device))
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        self._tokens[name].install(model)
        return model

    def _base_model(self, name: str, device: str) -> SentenceTransformer:
        """Base model ``name`` as read from disk, shared: never train it (the dense miner only encodes)."""
        from hpo.training.models import load_model

        key = (name, device)
        if key not in self._models:
            self._models[key] = load_model(name, device, None, self.config.trust_remote_code)
            self._tokens[name] = TokenCache()
        return self._models[key]

    def train_dataset(self) -> Any:
        if self._train_dataset is None:
            self._train_dataset = self.task.train_dataset(self.data)
        return self._train_dataset

    def mined_train_dataset(
        self, params: TrainingParams, device: str, precision: Precision
    ) -> tuple[Any, MiningRecord]:
        """The training dataset with ``params.hard_negatives`` mined, and what mining cost."""
        return self._mined.dataset(params, device, precision, self._base_model)

    def evaluator(self, split: Split, capped: bool) -> tuple[BaseEvaluator, str]:
        """The task's evaluator on ``split`` and a description of its corpus, built once."""
        key = (split, capped)
        if key not in self._evaluators:
            self._evaluators[key] = evaluator_for(self.task, self.data, self.config, split, capped)
        return self._evaluators[key]

    def token_stats(self) -> dict[str, int]:
        """Texts tokenized and texts served from the cache, over all base models."""
        return {
            "tokenized": sum(t.misses for t in self._tokens.values()),
            "reused": sum(t.hits for t in self._tokens.values()),
        }
