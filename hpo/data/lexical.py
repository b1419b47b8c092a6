"""BM25 ranking of a corpus for a few queries: the hard negatives of a capped evaluation corpus,
and the BM25 miner of training negatives (:func:`bm25_weights`).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Bm25Weights:
    """BM25 as sparse vectors over the words the queries use: a query's score for a document is
    the dot product of their rows (the same score as :func:`bm25_rankings`)."""

    vocabulary: dict[str, int]
    queries: list[dict[int, float]]  # per query: word column -> the word's idf
    documents: list[dict[int, float]]  # per document: word column -> saturated, length-normalized tf

    def score(self, query: int, document: int) -> float:
        row = self.documents[document]
        return sum(idf * row.get(column, 0.0) for column, idf in self.queries[query].items())


def bm25_weights(queries: Sequence[str], documents: Sequence[str]) -> Bm25Weights:
    """The BM25 rows of ``queries`` and ``documents`` (each query's distinct words count once)."""
    query_words = [set(words(q)) for q in queries]
    vocabulary = {word: i for i, word in enumerate(sorted(set().union(*query_words)))}
    counts = [Counter(words(text)) for text in documents]
    lengths = [sum(c.values()) for c in counts]
    average = (sum(lengths) / len(lengths) if lengths else 0.0) or 1.0
    frequency: Counter[int] = Counter()
    rows: list[dict[int, float]] = []
    for count, length in zip(counts, lengths, strict=True):
        norm = K1 * (1 - B + B * length / average)
        row = {vocabulary[w]: tf * (K1 + 1) / (tf + norm) for w, tf in count.items() if w in vocabulary}
        frequency.update(row.keys())
        rows.append(row)
    n = len(documents)
    idf = {column: math.log(1 + (n - frequency[column] + 0.5) / (frequency[column] + 0.5)) for column in frequency}
    query_rows = [{vocabulary[w]: idf[vocabulary[w]] for w in q if vocabulary[w] in idf} for q in query_words]
    return Bm25Weights(vocabulary, query_rows, rows)
