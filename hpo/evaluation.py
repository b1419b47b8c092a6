"""Score a model (fine-tuned or not) with a study config's own evaluator, outside any trial."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo.config import StudyConfig
from hpo.data import StudyData
from hpo.space import FixedParam

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# The columns of the comparison table, per objective.
TABLE_METRICS = {"retrieval": ("ndcg@10", "mrr@10"), "pair-classification": ("ap", "accuracy", "f1")}


@dataclass(frozen=True)
class Evaluation:
    """The evaluator's metrics for one model on one split."""

    model: str
    split: str
    value: float
    metric_key: str
    metrics: dict[str, float]
    corpus: str
    seconds: float

    def table_values(self, objective: str) -> dict[str, float]:
        return {m: self.metric(m) for m in TABLE_METRICS[objective]}

    def metric(self, name: str) -> float:
        matches = [v for k, v in self.metrics.items() if k.endswith(f"_{name}")]
        return matches[0] if matches else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric_key": self.metric_key,
            "metrics": self.metrics,
            "corpus": self.corpus,
            "seconds": round(self.seconds, 2),
        }


def evaluate_model(
    model: str | SentenceTransformer,
    config: StudyConfig,
    data: StudyData,
    split: str,
    capped: bool = False,
    name: str | None = None,
) -> Evaluation:
    """Score ``model`` (a Hub id, a local path or a loaded model) on ``split`` of ``data``."""
    from objectives import load_objective
    from objectives.models import best_device, load_model
    from objectives.precision import best_precision
    from objectives.training import evaluate

    objective = load_objective(config.objective)
    if isinstance(model, str):
        seq = config.search_space.max_seq_length
        max_seq_length = int(seq.value) if isinstance(seq, FixedParam) and seq.value else None
        loaded = load_model(model, best_device(), max_seq_length, config.trust_remote_code)
    else:
        loaded = model
    evaluator, corpus = objective.evaluator(data, config, split, capped=capped)
    started = time.perf_counter()
    device = best_device()
    metrics = evaluate(evaluator, loaded, device, best_precision(device, config.precision))
    key = objective.metric_key(metrics, config.metric_name)
    label = name or (model if isinstance(model, str) else "model")
    logger.info("%s on %s: %s %.4f", label, split, config.metric_name, metrics[key])
    return Evaluation(
        model=label,
        split=split,
        value=float(metrics[key]),
        metric_key=key,
        metrics={k: float(v) for k, v in metrics.items()},
        corpus=corpus,
        seconds=time.perf_counter() - started,
    )


def format_table(objective: str, rows: list[Evaluation]) -> str:
    """A plain-text table: one row per model, the objective's headline metrics as columns."""
    columns = TABLE_METRICS[objective]
    header = ["model", "split", *columns]
    body = [[r.model, r.split, *[f"{r.metric(c):.4f}" for c in columns]] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
