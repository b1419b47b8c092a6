"""A pair-classification study on the Quora sample with the tiny test model, and its static report.

    python benchmarks/quora_report.py --output quora-report [--storage sqlite:///quora-tiny.db]

Builds the tiny BERT the tests use, runs `hpo create-study`, `hpo worker` and `hpo report` on
../shared/data/quora_duplicates, and prints the wall times, the trial states and the report files.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "quora_duplicates"


def config(model: str) -> dict[str, object]:
    return {
        "study_name": "quora-tiny",
        "objective": "pair-classification",
        "seed": 42,
        "data": {
            "train": {"path": str(DATA / "train.jsonl")},
            "dev": {"path": str(DATA / "dev.jsonl")},
            "test": {"path": str(DATA / "test.jsonl")},
            "max_train_samples": 2048,
            "max_dev_queries": 1000,
        },
        "metric": "ap",
        "search_space": {
            "model": model,
            "loss": {
                "OnlineContrastiveLoss": {"margin": {"type": "float", "low": 0.2, "high": 0.8}},
                "ContrastiveLoss": {"margin": {"type": "float", "low": 0.2, "high": 0.8}},
            },
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
            "batch_size": {"type": "categorical", "choices": [32, 64]},
            "epochs": 1,
            "max_seq_length": 48,
        },
        "evaluation": {"every_samples": 256},
        "sampler": {"type": "tpe", "n_startup_trials": 4},
        "pruner": {"type": "median", "n_startup_trials": 3},
        "budget": {"n_trials": 10},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--storage", default="sqlite:///quora-tiny.db")
    args = parser.parse_args()
    from hpo.testing import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="quora-tiny-"))
    model = build_tiny_model(work)
    config_path = work / "quora-tiny.yaml"
    config_path.write_text(yaml.safe_dump(config(str(model)), sort_keys=False))
    env = {**os.environ, "HPO_STORAGE": args.storage, "HF_HUB_OFFLINE": "1"}
    times = {}
    for name, command in {
        "create-study": ["create-study", "--config", str(config_path), "--load-if-exists"],
        "worker": ["worker", "--study", "quora-tiny"],
        "report": ["report", "--study", "quora-tiny", "-o", args.output],
    }.items():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "hpo", *command], env=env, check=True)
        times[name] = time.perf_counter() - started
    study = optuna.load_study(study_name="quora-tiny", storage=args.storage)
    states = [t.state.name for t in study.trials]
    print("\n== quora-tiny ==")
    for name, seconds in times.items():
        print(f"wall time {name:<13} {seconds:7.1f} s")
    print("trials:", {s: states.count(s) for s in sorted(set(states))})
    print(f"best: trial {study.best_trial.number} ap={study.best_value:.4f}")
    print("report:", ", ".join(sorted(p.name for p in Path(args.output).iterdir())))


if __name__ == "__main__":
    main()
