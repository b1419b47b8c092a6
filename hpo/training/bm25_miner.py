"""BM25 in the place of a SentenceTransformer, so that sentence-transformers' ``mine_hard_negatives``
mines lexical negatives with the same rank window, margins and sampling as the dense miner.

``mine_hard_negatives`` asks its model to encode the corpus and the queries, then to score them
(``similarity`` for blocks of queries against the corpus, ``similarity_pairwise`` for each query
and its positive). Here the "embedding" of a text is its row number, and the scores are BM25
scores (:func:`hpo.data.lexical.bm25_weights`) of the texts those rows stand for. Only what
``mine_hard_negatives`` calls is implemented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo.data.lexical import Bm25Weights, bm25_weights

if TYPE_CHECKING:
    import numpy as np
    import torch


class Bm25Ranker:
    """A stand-in model for ``mine_hard_negatives`` that ranks passages by BM25."""

    def __init__(self) -> None:
        import torch

        self.device = torch.device("cpu")
        self._queries: list[str] = []
        self._documents: list[str] = []
        self._weights: Bm25Weights | None = None
        self._matrix: torch.Tensor | None = None

    def encode_document(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self._documents = list(texts)
        self._weights = self._matrix = None
        return _row_numbers(len(self._documents))

    def encode_query(self, texts: Sequence[str], **_: Any) -> np.ndarray:
        self._queries = list(texts)
        self._weights = self._matrix = None
        return _row_numbers(len(self._queries))

    def similarity(self, queries: Any, documents: Any) -> torch.Tensor:
        """BM25 scores of a block of queries (rows) against documents (columns)."""
        import torch

        weights, matrix = self._built()
        query_rows = _rows(queries)
        dense = torch.zeros((len(weights.vocabulary), len(query_rows)), dtype=torch.float32)
        for j, row in enumerate(query_rows):
            for column, idf in weights.queries[row].items():
                dense[column, j] = idf
        scores = torch.sparse.mm(matrix, dense).T  # every document of the corpus, in row order
        document_rows = _rows(documents)
        if document_rows != list(range(len(self._documents))):
            scores = scores[:, document_rows]
        result: torch.Tensor = scores.contiguous()
        return result

    def similarity_pairwise(self, queries: Any, documents: Any) -> torch.Tensor:
        """The BM25 score of each query for the document in the same position."""
        import torch

        weights, _ = self._built()
        pairs = zip(_rows(queries), _rows(documents), strict=True)
        return torch.tensor([weights.score(q, d) for q, d in pairs], dtype=torch.float32)

    def _built(self) -> tuple[Bm25Weights, torch.Tensor]:
        import torch

        if self._weights is None or self._matrix is None:
            self._weights = bm25_weights(self._queries, self._documents)
            entries = [(d, c, w) for d, row in enumerate(self._weights.documents) for c, w in row.items()]
            index = torch.tensor([[d for d, _, _ in entries], [c for _, c, _ in entries]], dtype=torch.long)
            values = torch.tensor([w for _, _, w in entries], dtype=torch.float32)
            shape = (len(self._documents), len(self._weights.vocabulary))
            self._matrix = torch.sparse_coo_tensor(
                index.reshape(2, -1), values, shape, check_invariants=True
            ).coalesce()
        return self._weights, self._matrix


def _row_numbers(n: int) -> np.ndarray:
    import numpy as np

    return np.arange(n, dtype=np.float64).reshape(n, 1)


def _rows(embeddings: Any) -> list[int]:
    """The row numbers a block of stand-in embeddings holds (a numpy array or a tensor of shape (n, 1))."""
    return [int(v) for v in embeddings[:, 0].tolist()]
