"""The capped evaluation corpus: every relevant passage plus the others that compete with them.

Encoding a whole passage pool at every intermediate evaluation can cost more than the training;
a capped corpus keeps what decides the ranking: the passages relevant to the evaluation queries
and each query's best BM25 matches (the ones a model must rank below the relevant ones).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Literal

from hpo.data.lexical import bm25_rankings, in_turns

CapNegatives = Literal["bm25", "random"]


def capped_ids(
    corpus: Mapping[str, str],
    queries: Iterable[str],
    relevant: set[str],
    cap: int | None,
    seed: int,
    negatives: CapNegatives = "bm25",
) -> set[str] | None:
    """The ids of a capped corpus, or None when the cap keeps the whole corpus.

    All ``relevant`` ids plus others up to ``cap`` in all: with ``"bm25"``, each query's best BM25
    matches taken in turns (rank 1 of every query, then rank 2, ...), topped up with a seeded
    sample when the matches run out; with ``"random"``, a seeded sample only.
    """
    if cap is None or cap >= len(corpus):
        return None
    extra = max(0, cap - len(relevant))
    chosen = set(relevant)
    if negatives == "bm25" and extra:
        for cid in in_turns(bm25_rankings(queries, corpus, exclude=relevant)):
            if len(chosen) - len(relevant) >= extra:
                break
            chosen.add(cid)
    others = sorted(cid for cid in corpus if cid not in chosen)
    missing = extra - (len(chosen) - len(relevant))
    chosen |= set(random.Random(seed).sample(others, min(max(0, missing), len(others))))
    return chosen


def capped_size(corpus_size: int, relevant: int, cap: int | None) -> int:
    """How many passages :func:`capped_ids` keeps, without choosing them."""
    if cap is None or cap >= corpus_size:
        return corpus_size
    return min(corpus_size, max(cap, relevant))
