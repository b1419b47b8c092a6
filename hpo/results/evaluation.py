"""Score a model (fine-tuned or not) with a study config's own evaluator, outside any trial."""

from __future__ import annotations

import logging
import math
import statistics
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.settings.config import StudyConfig
from hpo.settings.params import FixedParam
from hpo.stats.item_scores import ItemScores, read_record
from hpo.verdicts.paired import VerdictRow

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.settings.remote_code import RemoteCodeConsent
    from hpo.training.task import Split, Task

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Evaluation:
    """The evaluator's metrics for one model on one split, and the score of each item behind them.

    ``corpus`` says what was scored (the corpus of a retrieval split, the pairs of a pair split);
    ``thresholds`` says where decision thresholds came from when not from this split (``dev``);
    ``reused`` names where a stored score came from (``hpo baseline``) instead of a new evaluation.
    """

    model: str
    split: str
    value: float
    metric_key: str
    metrics: dict[str, float]
    corpus: str
    seconds: float
    items: ItemScores | None = None
    thresholds: str | None = None
    reused: str | None = None

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "value": self.value,
            "metric_key": self.metric_key,
            "metrics": self.metrics,
            "corpus": self.corpus,
            "seconds": round(self.seconds, 2),
        }
        if self.thresholds is not None:
            record["thresholds_from"] = self.thresholds
        if self.reused is not None:
            record["reused_from"] = self.reused
        if self.items is not None:
            record["items"] = self.items.to_record()
        return record

    @classmethod
    def from_dict(cls, model: str, split: str, record: dict[str, Any]) -> Evaluation:
        """An evaluation stored by :meth:`to_dict` (``hpo baseline``'s records)."""
        return cls(
            model=model,
            split=split,
            value=float(record["value"]),
            metric_key=str(record["metric_key"]),
            metrics={str(k): float(v) for k, v in record["metrics"].items()},
            corpus=str(record.get("corpus", "")),
            seconds=float(record.get("seconds", 0.0)),
            items=read_record(record.get("items")),
            thresholds=record.get("thresholds_from"),
        )


@dataclass(frozen=True)
class SeedRun:
    """One retraining of the recipe with another seed (``hpo train --seeds``): its dev and test scores."""

    seed: int
    dev: Evaluation
    test: Evaluation | None

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "dev": self.dev.to_dict(), "test": self.test.to_dict() if self.test else None}


@dataclass(frozen=True)
class FinalReport:
    """A retrained model's scores (dev and held-out test), the zero-shot baselines beside them, and
    the verdict of the tuned model against each baseline on test."""

    output_dir: Path
    splits: tuple[str, ...]
    dev: Evaluation
    test: Evaluation | None
    baselines: list[Evaluation] = field(default_factory=list)
    trial_value: float | None = None
    verdicts: list[VerdictRow] = field(default_factory=list)
    seed: int | None = None  # the seed of the saved model
    other_seeds: list[SeedRun] = field(default_factory=list)
    max_test_queries: int | None = None

    def rows(self) -> list[Evaluation]:
        """The rows of ``hpo train``'s table: baselines, the tuned model on test, then on dev; other seeds last."""
        seeds = [e for run in self.other_seeds for e in (run.test, run.dev) if e is not None]
        return [*self.baselines, *([self.test] if self.test else []), self.dev, *seeds]

    def seed_summary(self, split: str) -> tuple[float, float, int] | None:
        """Mean, sample standard deviation and count of the metric on ``split`` over every seed."""
        runs = [
            self.dev if split == "dev" else self.test,
            *[r.dev if split == "dev" else r.test for r in self.other_seeds],
        ]
        values = [e.value for e in runs if e is not None]
        if len(values) < 2:
            return None
        return statistics.mean(values), statistics.stdev(values), len(values)


def evaluate_model(
    model: str | SentenceTransformer,
    task: Task[Any],
    config: StudyConfig,
    data: Any,
    split: Split,
    capped: bool = False,
    name: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Score ``model`` (a Hub id, a local path or a loaded model) on ``split`` of ``data``.

    With ``progress``, the encoding shows a progress bar with its ETA on stderr; without, a long
    encoding logs its progress (texts done of the total, time left) every 30 seconds.
    """
    from hpo.training.encode_meter import EncodeMeter
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
    label = name or (model if isinstance(model, str) else "model")
    if progress:
        evaluator.show_progress_bar = True  # the library's own bars, with an ETA
    logger.info("scoring %s on %s: %s", label, split, corpus)
    started = time.perf_counter()
    with nullcontext() if progress else EncodeMeter(loaded):
        metrics = evaluate(evaluator, loaded, device, best_precision(device, config.precision))
    key = task.metric_key(metrics, config.metric_name)
    logger.info("%s on %s: %s %.4f", label, split, config.metric_name, metrics[key])
    return Evaluation(
        model=label,
        split=split,
        value=float(metrics[key]),
        metric_key=key,
        metrics={k: float(v) for k, v in metrics.items()},
        corpus=corpus,
        seconds=time.perf_counter() - started,
        items=getattr(evaluator, "last_items", None),
    )


def at_dev_thresholds(task: Task[Any], test: Evaluation, dev: Evaluation | None) -> Evaluation:
    """``test`` with its decision thresholds taken from the same model's ``dev`` evaluation (pair tasks)."""
    if not task.thresholds_from_dev or test.items is None or dev is None or dev.items is None:
        return test
    metrics = task.with_dev_thresholds(test.metrics, test.items, dev.items)
    items = ItemScores(
        test.items.items, test.items.scores, test.items.similarity, test.items.gold, dev.items.thresholds
    )
    return replace(test, metrics=metrics, value=metrics[test.metric_key], items=items, thresholds="dev")


def table_value(task: Task[Any], evaluation: Evaluation, metric: str) -> float:
    """``metric`` of an evaluation (a headline column of the task), or NaN when not reported."""
    try:
        return evaluation.metrics[task.metric_key(evaluation.metrics, metric)]
    except KeyError:
        return math.nan


def evaluate_with_config(
    model: str, config_path: Path, split: Split, trust_remote_code: RemoteCodeConsent
) -> tuple[str, Evaluation]:
    """``hpo evaluate``: score ``model`` with the evaluator of the study config at ``config_path`` (full corpus)."""
    from hpo.errors import UsageError
    from hpo.store.config_file import load_config
    from objectives.registry import get_task

    config = load_config(config_path)
    config.check_remote_code(trust_remote_code, [model])
    task = get_task(config.objective)
    data = task.load_data(config, include_test=split == "test")
    if split == "test" and not data.has_test:
        raise UsageError(f"{config_path}: no test split (set data.test or data.test_fraction)")
    return config.objective, evaluate_model(model, task, config, data, split)


def format_table(objective: str, rows: list[Evaluation]) -> str:
    """A plain-text table: one row per model, the task's headline metrics, and what each row scored on.

    Notes under the table say which rows took their decision thresholds from dev and which were
    reused from ``hpo baseline``.
    """
    from objectives.registry import get_task

    task = get_task(objective)
    columns = task.metrics.table
    header = ["model", "split", *columns, "scored on"]
    body = [[r.model, r.split, *[f"{table_value(task, r, c):.4f}" for c in columns], r.corpus] for r in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(r.thresholds == "dev" for r in rows):
        lines.append("test accuracy and f1 use the decision thresholds each model chose on dev")
    reused = sorted({r.reused for r in rows if r.reused})
    lines += [f"zero-shot scores reused from {source} (same model, same items)" for source in reused]
    return "\n".join(lines)
