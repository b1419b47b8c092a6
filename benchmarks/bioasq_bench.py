"""The BioASQ workload shared by the performance benchmarks, sized for a 2-core CPU.

A fixed, seeded subset of ../shared/data/bioasq: 256 training questions (one positive passage
each), 50 dev and 100 test questions, and an evaluation corpus of 2,500 passages (every passage
relevant to a dev or test question, every training positive, and a seeded sample of the rest).
The full 18,687-passage corpus costs over 2 minutes per evaluation on 2 CPU cores (bf16), so
"full corpus" in these benchmarks means these 2,500 passages; the capped corpus is 500.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "bioasq"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
STUDY = "bioasq-bench"


@dataclass(frozen=True)
class Workload:
    train: int = 256
    dev: int = 50
    test: int = 100
    corpus: int = 2500
    corpus_cap: int = 500
    seed: int = 42


def _rows(name: str) -> list[dict[str, Any]]:
    with (SOURCE / f"{name}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def write_subset(folder: Path, workload: Workload = Workload()) -> Path:
    """Write train/dev/test/corpus JSONL of the workload into ``folder``; returns ``folder``."""
    if not SOURCE.is_dir():
        sys.exit(f"error: {SOURCE} not found; the benchmarks need ../shared/data/bioasq beside the checkout")
    rng = random.Random(workload.seed)
    folder.mkdir(parents=True, exist_ok=True)
    train = rng.sample(_rows("train"), workload.train)
    dev = rng.sample(_rows("dev"), workload.dev)
    test = rng.sample(_rows("test"), workload.test)
    for row in train:  # train on the first positive only: its other relevant passages stay out
        row["relevant_ids"] = [row["positive_id"]]
    corpus = {r["id"]: r for r in _rows("corpus")}
    keep = {i for r in (*train, *dev, *test) for i in r["relevant_ids"]}
    rest = sorted(set(corpus) - keep)
    keep |= set(rng.sample(rest, max(0, workload.corpus - len(keep))))
    for name, rows in (("train", train), ("dev", dev), ("test", test)):
        _write(folder / f"{name}.jsonl", rows)
    _write(folder / "corpus.jsonl", [corpus[i] for i in sorted(keep)])
    return folder


def study_config(folder: Path, workload: Workload = Workload(), **overrides: Any) -> dict[str, Any]:
    """The hpo study config of the workload; ``overrides`` replace top-level sections."""
    config: dict[str, Any] = {
        "study_name": STUDY,
        "objective": "retrieval",
        "seed": workload.seed,
        "data": {
            "train": {"path": str(folder / "train.jsonl")},
            "dev": {"path": str(folder / "dev.jsonl")},
            "test": {"path": str(folder / "test.jsonl")},
            "corpus": {"path": str(folder / "corpus.jsonl"), "id_column": "id", "text_column": "text"},
            "columns": {"query": "query", "positive": "positive", "relevant_ids": "relevant_ids", "query_id": "id"},
        },
        "metric": "ndcg@10",
        "search_space": {
            "model": MODEL,
            "loss": {"MultipleNegativesRankingLoss": {}},
            "learning_rate": {"type": "float", "low": 5.0e-6, "high": 5.0e-4, "log": True},
            "batch_size": {"type": "categorical", "choices": [16, 32]},
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.3},
            "epochs": 1,
            "max_seq_length": 128,
        },
        "evaluation": {"every_samples": 64, "corpus_cap": workload.corpus_cap, "final_corpus": "full"},
        "sampler": {"type": "tpe", "n_startup_trials": 3},
        "pruner": {"type": "median", "n_startup_trials": 2},
        "budget": {"n_trials": 6},
    }
    config.update(overrides)
    return config


def hpo(*args: str, storage: str) -> float:
    """Run one ``hpo`` command as a user would (its own process, offline); its wall seconds."""
    started = time.perf_counter()
    env = {**os.environ, "HPO_STORAGE": storage, "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "hpo", *args], env=env, check=True)
    return time.perf_counter() - started


def trial_samples(trial: Any) -> int:
    """Training samples a finished trial consumed (a pruned one stopped where it was pruned)."""
    if trial.state.name == "PRUNED":
        return int(trial.user_attrs.get("pruned_at_samples", 0))
    return int(trial.user_attrs.get("samples_seen", 0))


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    var = (sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb)) ** 0.5
    return cov / var if var else 0.0
