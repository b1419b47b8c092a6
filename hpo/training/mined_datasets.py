"""The training datasets of runs with mined hard negatives, for one process's data and config.

A run's mined negatives come from this process's memory, else the machine's disk cache
(:mod:`hpo.training.mined_cache`), else the miner (:mod:`hpo.training.mining`). The cache key is
everything the negatives depend on: the miner and its settings, the dense miner's model, the
data fingerprint, a digest of exactly what mining reads (which includes the held-out passages),
the seed and, for a dense miner, the precision it encodes in. The run's base model is not part
of a BM25 key: BM25 negatives do not depend on it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hpo.errors import TrialError
from hpo.training.bm25_miner import Bm25Ranker
from hpo.training.mined_cache import MinedCache, key_digest
from hpo.training.mining import MiningInputs, MiningRecord, cached_mine, mined_dataset

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.settings.config import StudyConfig
    from hpo.settings.space import TrainingParams
    from hpo.training.precision import Precision
    from hpo.training.task import Task

logger = logging.getLogger(__name__)
ModelLoader = Callable[[str, str], "SentenceTransformer"]


class MinedDatasets:
    """Mined training datasets of one task's data and config, built once per settings and loss shape."""

    def __init__(self, task: Task[Any], data: Any, config: StudyConfig, cache: MinedCache) -> None:
        self.task = task
        self.data = data
        self.config = config
        self.cache = cache
        self._inputs: MiningInputs | None = None
        self._digests: tuple[str, str] | None = None  # the data fingerprint and the mining inputs' digest
        self._built: dict[str, tuple[Any, MiningRecord]] = {}  # the latest only: a mined dataset can be large

    def key(self, params: TrainingParams, precision: Precision) -> dict[str, Any]:
        """The disk-cache key of ``params``' mined negatives."""
        from hpo.data.fingerprint import fingerprint

        settings = params.hard_negatives
        if settings is None:
            raise ValueError("a run without hard_negatives mines nothing")
        if self._digests is None:
            self._digests = (fingerprint(self.data), self.inputs().digest())
        data, inputs = self._digests
        miner_model = (settings.miner_model or params.model) if settings.miner == "dense" else None
        return {
            "kind": "mined-negatives",
            "version": 1,
            "miner": settings.miner,
            "miner_model": miner_model,
            "settings": settings.model_dump(mode="json", exclude={"miner", "miner_model"}),
            "data": data,
            "inputs": inputs,
            "seed": self.config.seed,
            "precision": precision if miner_model else None,
        }

    def inputs(self) -> MiningInputs:
        if self._inputs is None:
            self._inputs = self.task.mining_inputs(self.data)
        return self._inputs

    def dataset(
        self, params: TrainingParams, device: str, precision: Precision, load: ModelLoader
    ) -> tuple[Any, MiningRecord]:
        """The training dataset of ``params`` (with its mined negatives) and what getting them cost.

        ``load(name, device)`` gives a loaded base model, for the dense miner to encode with. A
        loss that takes triplets gets one row per negative.
        """
        from hpo.training.precision import inference_autocast

        started = time.perf_counter()
        settings = params.hard_negatives
        if settings is None:
            raise ValueError("a run without hard_negatives mines nothing")
        key = self.key(params, precision)
        one_negative = self.task.losses[params.loss].negatives == "one"
        memo = f"{key_digest(key)}:{one_negative}"
        if memo in self._built:
            dataset, record = self._built[memo]
            return dataset, replace(record, cache="hit", seconds=time.perf_counter() - started)
        miner_model = key["miner_model"]
        embeddings_key = None if miner_model is None else {**key, "kind": "miner-embeddings", "settings": None}

        def ranker() -> Any:
            return Bm25Ranker() if miner_model is None else load(miner_model, device)

        inputs = self.inputs()
        batch_size = self.config.evaluation.batch_size
        with inference_autocast(device, precision):
            mined, use = cached_mine(
                inputs, settings, self.cache, key, ranker, embeddings_key, self.config.seed, batch_size
            )
        dataset, no_negatives, held_out = mined_dataset(inputs, mined, one_negative)
        if len(dataset) == 0:
            raise TrialError(
                f"hard-negative mining ({settings.miner}) found {settings.num_negatives} negatives for no training "
                "pair; widen the rank window (range_min, range_max) or lower the margin"
            )
        trained = len(inputs.pairs) - no_negatives - held_out
        record = MiningRecord(settings.miner, use, time.perf_counter() - started, trained, no_negatives, held_out)
        logger.info(
            "mined negatives (%s, cache %s) in %.1f s: %d training pairs with negatives, %d without enough, "
            "%d left out for a dev/test positive",
            settings.miner,
            use,
            record.seconds,
            trained,
            no_negatives,
            held_out,
        )
        self._built = {memo: (dataset, record)}
        return dataset, record
