"""What one process builds once and every training run reuses.

A worker runs many trials on the same data and config: reading the base weights from disk,
building the training dataset and the evaluators (with their capped corpus), and tokenizing the
same texts again for every trial would be repeated work. A worker makes one cache and passes it
to each run; nothing here is module-level state.

With a :class:`~hpo.training.disk_cache.DiskCache`, what is the same for every worker of the
study is built once per machine, not once per process: the token table of the training and dev
texts (per tokenizer and ``max_seq_length``) and the capped corpus's ids. Without one (or when
the cache folder cannot be written) the same things are built in this process; a damaged entry
is set aside and rebuilt (:mod:`hpo.training.disk_cache`).
"""

from __future__ import annotations

import copy
import logging
from typing import TYPE_CHECKING, Any

from hpo.training.disk_cache import DiskCache, Memo, no_memo
from hpo.training.matryoshka import evaluator_for
from hpo.training.mined_cache import MinedCache
from hpo.training.mined_datasets import MinedDatasets
from hpo.training.token_cache import TokenCache

if TYPE_CHECKING:
    from pathlib import Path

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

    from hpo.settings.config import StudyConfig
    from hpo.settings.space import TrainingParams
    from hpo.training.mining import MiningRecord
    from hpo.training.precision import Precision
    from hpo.training.task import Split, Task
    from hpo.training.token_table import TokenTable

logger = logging.getLogger(__name__)


class RunCache:
    """Base models, the training dataset, evaluators and tokens of one study's data and config."""

    def __init__(
        self,
        task: Task[Any],
        data: Any,
        config: StudyConfig,
        disk: DiskCache | None = None,
        fingerprint: str = "",
        mined: MinedCache | None = None,
    ) -> None:
        """``fingerprint`` is the data's (:func:`hpo.data.fingerprint.fingerprint`); with ``disk`` it
        keys the shared entries, and is computed here when not given. Mined negatives are kept in
        ``mined``, else under the disk cache (else in a cache of their own at the default place:
        mining is too costly to repeat for every run)."""
        self.task = task
        self.data = data
        self.config = config
        self.disk = disk
        self._fingerprint = fingerprint
        self._models: dict[tuple[str, str], SentenceTransformer] = {}
        self._tokens: dict[str, TokenCache] = {}
        self._tokenizers: dict[str, str] = {}
        self._evaluators: dict[tuple[Split, bool], tuple[BaseEvaluator, str]] = {}
        self._train_dataset: Any = None
        self.table_texts_tokenized = 0
        root = (disk or DiskCache.default()).root
        # Under the disk cache, mined negatives share its state: a cache given up is given up once.
        shared = disk.state if disk is not None else None
        self._mined = MinedDatasets(task, data, config, mined or MinedCache(root / "mined", shared))

    def model(self, name: str, device: str, max_seq_length: int | None) -> SentenceTransformer:
        """A fresh trainable copy of base model ``name``; its weights are read from disk once."""
        model = copy.deepcopy(self._base_model(name, device))
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        tokens = self._tokens[name]
        tokens.install(model)
        if model.max_seq_length not in tokens.tables:
            table = self._token_table(name, model)
            if table is not None:
                tokens.add_table(model.max_seq_length, table)
        return model

    def _base_model(self, name: str, device: str) -> SentenceTransformer:
        """Base model ``name`` as read from disk, shared: never train it (the dense miner only encodes)."""
        from hpo.training.models import load_model

        key = (name, device)
        if key not in self._models:
            self._models[key] = load_model(name, device, None, self.config.trust_remote_code)
            self._tokens[name] = TokenCache()
        return self._models[key]

    def _token_table(self, name: str, model: SentenceTransformer) -> TokenTable | None:
        """The tokens of every training and dev text for ``model``'s tokenizer and ``max_seq_length``."""
        from hpo.training.token_table import FORMAT, TokenTable, tokenizer_fingerprint

        pad_values = TokenCache.pad_values(model)
        if pad_values is None or type(model[0]).__name__ != "Transformer":
            return None

        def build() -> TokenTable | None:
            texts = [*self._train_texts(), *self.task.evaluation_texts(self.data, "dev")]
            table = TokenTable.build(texts, lambda batch: type(model).preprocess(model, batch), pad_values)
            self.table_texts_tokenized += len(table) if table is not None else 0
            return table

        if self.disk is None:
            return build()
        if name not in self._tokenizers:
            self._tokenizers[name] = tokenizer_fingerprint(model)
        key = {
            "kind": "token_table",
            "format": FORMAT,
            "tokenizer": self._tokenizers[name],
            "max_seq_length": model.max_seq_length,
            "data": self.fingerprint(),
        }
        return self.disk.value(key, build, _save_table, _load_table)

    def _train_texts(self) -> list[str]:
        dataset = self.train_dataset()
        columns = [name for name, feature in dataset.features.items() if getattr(feature, "dtype", "") == "string"]
        table = dataset.with_format("arrow")
        return [text for name in columns for text in table[name].to_pylist()]

    def fingerprint(self) -> str:
        if not self._fingerprint:
            from hpo.data.fingerprint import fingerprint

            self._fingerprint = fingerprint(self.data)
        return self._fingerprint

    def memo(self) -> Memo:
        """The study-wide memo of the disk cache (none without one); a failing disk only costs speed."""
        if self.disk is None:
            return no_memo
        return self.disk.memo({"data": self.fingerprint()})

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
            self._evaluators[key] = evaluator_for(self.task, self.data, self.config, split, capped, self.memo())
        return self._evaluators[key]

    def token_stats(self) -> dict[str, int]:
        """Texts tokenized and texts served from the cache, over all base models."""
        return {
            "tokenized": sum(t.misses for t in self._tokens.values()) + self.table_texts_tokenized,
            "reused": sum(t.hits for t in self._tokens.values()),
        }


def _save_table(table: TokenTable | None, folder: Path) -> None:
    if table is not None:  # no table (a tokenizer whose output cannot be stored): an empty entry says so
        table.save(folder)


def _load_table(folder: Path) -> TokenTable | None:
    from hpo.training.token_table import TokenTable

    return TokenTable.load(folder) if TokenTable.saved_in(folder) else None
