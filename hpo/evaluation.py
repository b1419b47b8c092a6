"""Score a model (fine-tuned or not) with a study config's own evaluator, outside any trial."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.config import StudyConfig
from hpo.space import FixedParam

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from objectives.task import Split, Task

logger = logging.getLogger(__name__)


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

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "metric_key": self.metric_key,
            "metrics": self.metrics,
            "corpus": self.corpus,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class FinalReport:
    """A retrained model's scores (dev and held-out test), and the zero-shot baselines beside them."""

    output_dir: Path
    splits: tuple[str, ...]
    dev: Evaluation
    test: Evaluation | None
    baselines: list[Evaluation] = field(default_factory=list)
    trial_value: float | None = None

    def rows(self) -> list[Evaluation]:
        """The rows of ``hpo train``'s table: baselines, the tuned model on test, then on dev."""
        return [*self.baselines, *([self.test] if self.test else []), self.dev]


def evaluate_model(
    model: str | SentenceTransformer,
    task: Task[Any],
    config: StudyConfig,
    data: Any,
    split: Split,
    capped: bool = False,
    name: str | None = None,
) -> Evaluation:
    """Score ``model`` (a Hub id, a local path or a loaded model) on ``split`` of ``data``."""
    from hpo.training.matryoshka import evaluator_for
    from hpo.training.models import best_device, load_model
    from hpo.training.precision import best_precision
    from hpo.training.run import evaluate

    device = best_device()
    if isinstance(model, str):
        seq = config.search_space.max_seq_length
        max_seq_length = int(seq.value) if isinstance(seq, FixedParam) and seq.value else None
        loaded = load_model(model, device, max_seq_length, config.trust_remote_code)
    else:
        loaded = model
    evaluator, corpus = evaluator_for(task, data, config, split, capped)
    started = time.perf_counter()
    metrics = evaluate(evaluator, loaded, device, best_precision(device, config.precision))
    key = task.metric_key(metrics, config.metric_name)
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


def table_value(task: Task[Any], evaluation: Evaluation, metric: str) -> float:
    """``metric`` of an evaluation (a headline column of the task), or NaN when not reported."""
    try:
        return evaluation.metrics[task.metric_key(evaluation.metrics, metric)]
    except KeyError:
        return math.nan


def evaluate_with_config(
    model: str, config_path: Path, split: Split, trust_remote_code: bool
) -> tuple[str, Evaluation]:
    """``hpo evaluate``: score ``model`` with the evaluator of the study config at ``config_path`` (full corpus)."""
    from hpo.config_file import load_config
    from hpo.errors import UsageError
    from objectives.registry import get_task

    config = load_config(config_path)
    config.check_remote_code(trust_remote_code)
    task = get_task(config.objective)
    data = task.load_data(config, include_test=split == "test")
    if split == "test" and not data.has_test:
        raise UsageError(f"{config_path}: no test split (set data.test or data.test_fraction)")
    return config.objective, evaluate_model(model, task, config, data, split)


def format_table(objective: str, rows: list[Evaluation]) -> str:
    """A plain-text table: one row per model, the task's headline metrics as columns."""
    from objectives.registry import get_task

    task = get_task(objective)
    columns = task.metrics.table
    header = ["model", "split", *columns]
    body = [[r.model, r.split, *[f"{table_value(task, r, c):.4f}" for c in columns]] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
