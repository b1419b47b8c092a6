"""Mined hard negatives: what a task gives the miner, the mining itself, and the training rows it yields.

Mining is sentence-transformers' own ``mine_hard_negatives`` (rank window, margins, sampling),
with a dense model (:class:`SentenceTransformer`) or BM25 (:class:`~hpo.training.bm25_miner.Bm25Ranker`)
as the ranker. Two rules keep it honest:

- a query's known relevant passages are never its negatives (all of them are given to the miner
  as the query's positives, including those the training sample left out);
- no passage relevant to a dev or test query ever enters training: such passages are not in the
  candidate corpus, and a training pair whose positive is one of them is left out of mined runs.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hpo import attrs

if TYPE_CHECKING:
    from hpo.settings.levers import HardNegatives
    from hpo.training.mined_cache import MinedCache

Pair = tuple[str, str]
CacheUse = Literal["hit", "embeddings", "miss"]


@dataclass(frozen=True)
class MiningInputs:
    """A task's training data as the miner sees it.

    ``pairs`` are the (query, positive passage) rows trained on, in order; ``relevant`` maps each
    training query to every passage known relevant to it; ``corpus`` holds the candidate passages
    (no held-out one); ``held_out`` holds the passages relevant to dev or test queries.
    """

    pairs: list[Pair]
    relevant: Mapping[str, frozenset[str]]
    corpus: list[str]
    held_out: frozenset[str]

    def training_pairs(self) -> list[Pair]:
        """The distinct pairs negatives are mined for: those whose positive is not held out."""
        return [pair for pair in dict.fromkeys(self.pairs) if pair[1] not in self.held_out]

    def candidates(self) -> list[str]:
        """Every passage a negative may be: the corpus and the training positives, held-out ones excluded."""
        texts = dict.fromkeys([*self.corpus, *(p for _, p in self.training_pairs())])
        return [t for t in texts if t not in self.held_out]

    def digest(self) -> str:
        """sha256 of everything mining reads: two runs with the same digest mine the same negatives."""
        payload = {
            "pairs": self.pairs,
            "relevant": sorted((q, sorted(ps)) for q, ps in self.relevant.items()),
            "corpus": self.corpus,
            "held_out": sorted(self.held_out),
        }
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class MinedNegatives:
    """Each training pair's negatives, best-ranked first; a pair the miner found too few for is absent."""

    negatives: dict[Pair, tuple[str, ...]]

    def to_payload(self, inputs: MiningInputs) -> list[list[Any]]:
        """Compact and JSON-ready: [pair index, [candidate indices]] over the inputs' own lists."""
        candidate = {text: i for i, text in enumerate(inputs.candidates())}
        rows = []
        for i, pair in enumerate(inputs.training_pairs()):
            if pair in self.negatives:
                rows.append([i, [candidate[text] for text in self.negatives[pair]]])
        return rows

    @classmethod
    def from_payload(cls, payload: list[list[Any]], inputs: MiningInputs) -> MinedNegatives:
        pairs, candidates = inputs.training_pairs(), inputs.candidates()
        return cls({pairs[i]: tuple(candidates[j] for j in negatives) for i, negatives in payload})


@dataclass(frozen=True)
class MiningRecord:
    """What mining cost a run and what it gave: stored on the trial."""

    miner: str
    cache: CacheUse  # hit: the mined negatives were stored; embeddings: the ranking was; miss: mined afresh
    seconds: float
    trained_pairs: int  # training rows with their negatives
    no_negatives: int  # training pairs the miner found too few negatives for (left out)
    held_out_positive: int  # training pairs whose positive is a dev or test passage (left out)

    def user_attrs(self) -> dict[str, Any]:
        return {
            attrs.MINING_SECONDS: round(self.seconds, 3),
            attrs.MINING_CACHE: self.cache,
            attrs.MINED_PAIRS: {
                "miner": self.miner,
                "trained": self.trained_pairs,
                "no_negatives": self.no_negatives,
                "held_out_positive": self.held_out_positive,
            },
        }


def mine(
    inputs: MiningInputs,
    settings: HardNegatives,
    ranker: Any,
    seed: int,
    batch_size: int,
    embeddings_folder: Path | None = None,
) -> MinedNegatives:
    """Mine each training pair's negatives with ``ranker`` (a SentenceTransformer or a stand-in).

    ``embeddings_folder`` lets sentence-transformers keep the dense ranker's query and corpus
    embeddings there, so that other settings on the same data only redo the selection.
    """
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    from hpo.errors import TrialError

    training = inputs.training_pairs()
    if not training:
        raise TrialError("no training pair is left to mine negatives for: every positive is a dev or test passage")
    anchors, positives = [q for q, _ in training], [p for _, p in training]
    known = {pair for pair in training}
    for query in dict.fromkeys(anchors):  # the other known positives: never a negative of this query
        for passage in sorted(inputs.relevant.get(query, frozenset()) - inputs.held_out):
            if (query, passage) not in known:
                known.add((query, passage))
                anchors.append(query)
                positives.append(passage)
    try:
        with _seeded_python_random(seed):  # "random" sampling draws from Python's random module
            mined = mine_hard_negatives(
                Dataset.from_dict({"anchor": anchors, "positive": positives}),
                ranker,
                anchor_column_name="anchor",
                positive_column_name="positive",
                corpus=inputs.candidates(),
                range_min=settings.range_min,
                range_max=settings.range_max,
                absolute_margin=settings.margin,
                relative_margin=settings.relative_margin,
                num_negatives=settings.num_negatives,
                sampling_strategy=settings.sampling,
                output_format="n-tuple",
                batch_size=batch_size,
                faiss_batch_size=1024,
                use_faiss=False,
                verbose=False,
                cache_folder=str(embeddings_folder) if embeddings_folder is not None else None,
            )
    except ValueError as exc:
        raise TrialError(f"hard-negative mining failed: {str(exc).splitlines()[0]}") from exc
    columns = [f"negative_{i}" for i in range(1, settings.num_negatives + 1)]
    wanted = set(training)
    negatives: dict[Pair, tuple[str, ...]] = {}
    for row in mined:
        pair = (row["anchor"], row["positive"])
        if pair in wanted:
            negatives[pair] = tuple(row[c] for c in columns)
    return MinedNegatives(negatives)


def cached_mine(
    inputs: MiningInputs,
    settings: HardNegatives,
    cache: MinedCache,
    key: Mapping[str, Any],
    ranker: Callable[[], Any],
    embeddings_key: Mapping[str, Any] | None,
    seed: int,
    batch_size: int,
) -> tuple[MinedNegatives, CacheUse]:
    """The negatives of ``key`` from ``cache``, else mined (once, whatever the number of workers) and stored.

    With ``embeddings_key`` (a dense ranker) the ranker's embeddings are kept in the cache too, so
    that other settings on the same data and model skip the encoding.
    """
    with cache.lock(key):
        stored = cache.load(key, lambda payload: MinedNegatives.from_payload(payload, inputs))
        if stored is not None:
            return stored, "hit"
        use: CacheUse = "miss"
        if embeddings_key is None:
            mined = mine(inputs, settings, ranker(), seed, batch_size)
        else:
            with cache.lock(embeddings_key):
                folder, complete = cache.embeddings_folder(embeddings_key)
                use = "embeddings" if complete else "miss"
                mined = mine(inputs, settings, ranker(), seed, batch_size, folder)
                cache.seal(folder)
        cache.store(key, mined.to_payload(inputs))
        return mined, use


def mined_dataset(inputs: MiningInputs, mined: MinedNegatives, one_negative: bool) -> tuple[Any, int, int]:
    """The training rows (anchor, positive, negative_1, ...) in the order of ``inputs.pairs``.

    With ``one_negative`` (a loss that takes triplets) each negative makes a row of its own
    (anchor, positive, negative). Also returns how many pairs were left out for want of negatives
    and because their positive is held out.
    """
    from datasets import Dataset

    rows = [(q, p, mined.negatives[(q, p)]) for q, p in inputs.pairs if (q, p) in mined.negatives]
    held_out = sum(p in inputs.held_out for _, p in inputs.pairs)
    no_negatives = len(inputs.pairs) - held_out - len(rows)
    if one_negative:
        columns: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
        for q, p, negatives in rows:
            for negative in negatives:
                columns["anchor"].append(q)
                columns["positive"].append(p)
                columns["negative"].append(negative)
    else:
        width = len(rows[0][2]) if rows else 0
        columns = {"anchor": [q for q, _, _ in rows], "positive": [p for _, p, _ in rows]}
        columns |= {f"negative_{i + 1}": [negatives[i] for _, _, negatives in rows] for i in range(width)}
    return Dataset.from_dict(columns), no_negatives, held_out


@contextmanager
def _seeded_python_random(seed: int) -> Iterator[None]:
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)
