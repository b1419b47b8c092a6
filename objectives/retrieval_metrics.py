"""Retrieval's metrics, named once: which names a config may choose, and each query's value of one.

Light on purpose (no sentence-transformers): the task reads the pattern when a config is
validated, and its evaluator scores each query with :func:`query_score`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

IR_METRIC = re.compile(r"(?P<name>ndcg|mrr|map|recall|precision|accuracy)@(?P<k>[1-9][0-9]*)")
"""An IR metric at a cutoff, as sentence-transformers' InformationRetrievalEvaluator names it: ``ndcg@10``."""


def metric_k(metric: str) -> int:
    """The cutoff of ``metric`` (``ndcg@10`` -> 10); 10 for a name without one."""
    match = IR_METRIC.fullmatch(metric)
    return int(match["k"]) if match else 10


def query_score(metric: str, ranked: Sequence[str], relevant: set[str] | frozenset[str]) -> float:
    """One query's ``metric`` (``ndcg@10``, ``mrr@10``, ...) from its ranked corpus ids, as the IR evaluator has it."""
    match = IR_METRIC.fullmatch(metric)
    if match is None:
        raise ValueError(f"no per-query form of metric '{metric}'")
    name, k = match["name"], int(match["k"])
    hits = [1 if cid in relevant else 0 for cid in ranked[:k]]
    if name == "accuracy":
        return float(any(hits))
    if name == "precision":
        return sum(hits) / k
    if name == "recall":
        return sum(hits) / len(relevant)
    if name == "mrr":
        return next((1.0 / (rank + 1) for rank, hit in enumerate(hits) if hit), 0.0)
    if name == "ndcg":
        ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), k)))
        return sum(hit / math.log2(i + 2) for i, hit in enumerate(hits)) / ideal
    correct, total = 0, 0.0  # map@k
    for rank, hit in enumerate(hits):
        if hit:
            correct += 1
            total += correct / (rank + 1)
    return total / min(k, len(relevant))
