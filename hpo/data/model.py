"""The validated, in-memory form of a study's data, and its fingerprint."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from hpo.data.lexical import bm25_rankings, in_turns


@dataclass(frozen=True)
class RetrievalSplit:
    """Queries of one evaluation split and the corpus ids relevant to each."""

    queries: dict[str, str]
    relevant: dict[str, frozenset[str]]


@dataclass(frozen=True)
class RetrievalData:
    """Training pairs (query, passage), the evaluation splits, and the shared passage pool."""

    train_pairs: list[tuple[str, str]]
    dev: RetrievalSplit
    corpus: dict[str, str]
    test: RetrievalSplit | None = None

    def capped_corpus(
        self, split: RetrievalSplit, cap: int | None, seed: int, negatives: str = "bm25"
    ) -> dict[str, str]:
        """All passages relevant to ``split`` plus others up to ``cap`` in all.

        The others are, with ``negatives="bm25"``, each query's best BM25 matches taken in turns
        (rank 1 of every query, then rank 2, ...), topped up with a seeded sample when the matches
        run out; with ``"random"``, a seeded sample only.
        """
        if cap is None or cap >= len(self.corpus):
            return self.corpus
        relevant = set().union(*split.relevant.values()) if split.relevant else set()
        extra = max(0, cap - len(relevant))
        chosen = set(relevant)
        if negatives == "bm25" and extra:
            rankings = bm25_rankings(split.queries.values(), self.corpus, exclude=relevant)
            for cid in in_turns(rankings):
                if len(chosen) - len(relevant) >= extra:
                    break
                chosen.add(cid)
        others = sorted(cid for cid in self.corpus if cid not in chosen)
        missing = extra - (len(chosen) - len(relevant))
        chosen |= set(random.Random(seed).sample(others, min(max(0, missing), len(others))))
        return {cid: text for cid, text in self.corpus.items() if cid in chosen}

    def capped_size(self, split: RetrievalSplit, cap: int | None) -> int:
        """How many passages :meth:`capped_corpus` keeps, without choosing them."""
        if cap is None or cap >= len(self.corpus):
            return len(self.corpus)
        relevant = len(set().union(*split.relevant.values())) if split.relevant else 0
        return min(len(self.corpus), max(cap, relevant))

    def summary(self) -> dict[str, Any]:
        return {
            "train_pairs": len(self.train_pairs),
            "dev_queries": len(self.dev.queries),
            "corpus_passages": len(self.corpus),
        }

    def fingerprint_payload(self) -> Any:
        return {
            "train": self.train_pairs,
            "dev": _split_payload(self.dev),
            "corpus": sorted(self.corpus.items()),
        }


@dataclass(frozen=True)
class PairSplit:
    """Labelled text pairs: label 1 means the texts match."""

    text1: list[str] = field(default_factory=list)
    text2: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class PairData:
    """Training and evaluation pairs for pair classification."""

    train: PairSplit
    dev: PairSplit
    test: PairSplit | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "train_pairs": len(self.train),
            "train_positive_share": round(sum(self.train.labels) / max(1, len(self.train)), 3),
            "dev_pairs": len(self.dev),
        }

    def fingerprint_payload(self) -> Any:
        return {
            "train": [self.train.text1, self.train.text2, self.train.labels],
            "dev": [self.dev.text1, self.dev.text2, self.dev.labels],
        }


StudyData = RetrievalData | PairData


def fingerprint(data: StudyData) -> str:
    """sha256 of the training and dev data (never the test split), as the worker will use them."""
    payload = json.dumps(data.fingerprint_payload(), ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()


def _split_payload(split: RetrievalSplit) -> Any:
    return [[qid, text, sorted(split.relevant[qid])] for qid, text in split.queries.items()]
