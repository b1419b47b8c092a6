"""BM25 ranking of a corpus for a few queries: the hard negatives of a capped evaluation corpus.

A capped corpus of relevant passages plus random ones is easy: random passages rarely compete
with the relevant ones, so every model scores near the top. The passages that share the most
words with a query are the ones that compete; keeping those brings capped scores closer to
full-corpus scores at the same size (BENCHMARKS.md, eval_cost.py).
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping

_WORD = re.compile(r"\w+")
K1, B = 1.2, 0.75


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def bm25_rankings(queries: Iterable[str], corpus: Mapping[str, str], exclude: set[str]) -> list[list[str]]:
    """For each query, the corpus ids it matches by BM25, best first (ties by id), minus ``exclude``."""
    query_words = [set(words(q)) for q in queries]
    vocabulary = set().union(*query_words)
    postings: dict[str, list[tuple[str, int]]] = defaultdict(list)
    lengths: dict[str, int] = {}
    for cid, text in corpus.items():
        if cid in exclude:
            continue
        tokens = words(text)
        lengths[cid] = len(tokens)
        for word, tf in Counter(t for t in tokens if t in vocabulary).items():  # only words queries use
            postings[word].append((cid, tf))
    if not lengths:
        return [[] for _ in query_words]
    average = sum(lengths.values()) / len(lengths) or 1.0
    rankings = []
    for query in query_words:
        scores: dict[str, float] = defaultdict(float)
        for word in query:
            docs = postings.get(word, [])
            idf = math.log(1 + (len(lengths) - len(docs) + 0.5) / (len(docs) + 0.5))
            for cid, tf in docs:
                scores[cid] += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[cid] / average))
        rankings.append(sorted(scores, key=lambda cid: (-scores[cid], cid)))
    return rankings


def in_turns(rankings: list[list[str]]) -> Iterator[str]:
    """Every ranking's first id, then every ranking's second, ...: each query gets its share."""
    return (cid for level in itertools.zip_longest(*rankings) for cid in level if cid is not None)
