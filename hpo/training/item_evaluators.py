"""What the evaluators that keep each item's score share, whatever the task.

Each task's evaluator lives beside its task (in :mod:`objectives`) and returns exactly the metrics
of its sentence-transformers parent class; after every call it holds ``last_items``, an
:class:`~hpo.stats.item_scores.ItemScores` of that call with what a paired bootstrap needs. Pair
evaluators mix in :class:`KeepsPairEmbeddings`, which takes each pair's similarity from the
embeddings the parent already computed, so nothing is encoded twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpo.stats.item_scores import ItemScores, digest
from hpo.stats.weighted_metrics import Array


class _PairRows:
    """Records what a pair evaluator's ``embed_inputs`` returned, to take each pair's cosine from it."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], Any]] = []

    def add(self, sentences: Any, embeddings: Any) -> None:
        self.calls.append((list(sentences), embeddings))

    def cosine(self, sentences1: Sequence[Any], sentences2: Sequence[Any]) -> Array:
        if len(self.calls) == 1:  # one call on the unique texts of both sides
            texts, embeddings = self.calls[0]
            row = {text: i for i, text in enumerate(texts)}
            first = np.asarray(embeddings)[[row[s] for s in sentences1]]
            second = np.asarray(embeddings)[[row[s] for s in sentences2]]
        else:  # one call per side
            first, second = np.asarray(self.calls[0][1]), np.asarray(self.calls[1][1])
        import torch
        from sentence_transformers.util import pairwise_cos_sim

        similarity: Array = pairwise_cos_sim(torch.from_numpy(first), torch.from_numpy(second)).double().numpy()
        return similarity


class KeepsPairEmbeddings:
    """Mixed into a sentence-transformers pair evaluator: keeps the embeddings its parent computes.

    The evaluator calls :meth:`forget_embeddings` before its parent encodes, then sets
    ``last_items`` to :meth:`pair_items`; it says what each pair's gold value is (:meth:`gold`).
    """

    sentences1: Any  # set by the evaluator this is mixed into
    sentences2: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_items: ItemScores | None = None
        self._rows = _PairRows()

    def embed_inputs(self, model: Any, sentences: Any, **kwargs: Any) -> Any:
        embeddings = super().embed_inputs(model, sentences, **kwargs)  # type: ignore[misc]
        self._rows.add(sentences, embeddings)
        return embeddings

    def gold(self) -> Sequence[float]:
        """Each pair's gold value (a label or a score), in the order of the pairs."""
        raise NotImplementedError

    def items_digest(self) -> str:
        """What this evaluator scores: its pairs and their gold values."""
        gold = self.gold()
        return digest(
            {"pairs": [[a, b, float(g)] for a, b, g in zip(self.sentences1, self.sentences2, gold, strict=True)]}
        )

    def forget_embeddings(self) -> None:
        """Start a new evaluation: the embeddings kept so far belong to the last one."""
        self._rows = _PairRows()

    def pair_items(self, thresholds: Mapping[str, float] | None = None) -> ItemScores:
        """The item scores of the evaluation that just ran: each pair's cosine and gold value."""
        return ItemScores(
            items=self.items_digest(),
            similarity=self._rows.cosine(self.sentences1, self.sentences2),
            gold=np.asarray(self.gold(), dtype=np.float64),
            thresholds=dict(thresholds or {}),
        )
