"""A pair-classification study on the Quora sample with the tiny test model, and its static report.

    python -m benchmarks.quora_report --output quora-report [--size smoke|full] [--storage sqlite:///quora-tiny.db]

Builds the tiny BERT the tests use, runs `hpo create-study`, `hpo worker`, `hpo best --pareto` and
`hpo report` on ../shared/data/quora_duplicates, and prints the wall times, the trial states, the
quality-vs-cost fronts and the report files (with `pareto_cost.png` and `pareto_latency.png`).
The study is priced at $0.20 per CPU hour and searches the maximum sequence length, which moves
both the training cost and the encoding latency. ``full``: 10 trials on 2,048 training and 1,000
dev pairs; ``smoke``: 4 trials on 512 and 300.
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

from benchmarks.printing import print_run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "quora_duplicates"


SIZES = {"full": (10, 2048, 1000), "smoke": (4, 512, 300)}  # trials, training pairs, dev pairs


def config(model: str, size: str = "full") -> dict[str, object]:
    trials, train, dev = SIZES[size]
    return {
        "study_name": "quora-tiny",
        "objective": "pair-classification",
        "seed": 42,
        "data": {
            "train": {"path": str(DATA / "train.jsonl")},
            "dev": {"path": str(DATA / "dev.jsonl")},
            "test": {"path": str(DATA / "test.jsonl")},
            "max_train_samples": train,
            "max_dev_queries": dev,
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
            "max_seq_length": {"type": "categorical", "choices": [24, 48, 96]},
        },
        "evaluation": {"every_samples": 256},
        "sampler": {"type": "tpe", "n_startup_trials": 4},
        "pruner": {"type": "median", "n_startup_trials": 3},
        "budget": {"n_trials": trials},
        "cost": {"cpu": 0.20},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True)
    parser.add_argument("--storage", default="sqlite:///quora-tiny.db")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    args = parser.parse_args()
    from hpo.training.testing import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="quora-tiny-"))
    model = build_tiny_model(work)
    config_path = work / "quora-tiny.yaml"
    config_path.write_text(yaml.safe_dump(config(str(model), args.size), sort_keys=False))
    env = {**os.environ, "HPO_STORAGE": args.storage, "HF_HUB_OFFLINE": "1"}
    times = {}
    outputs: dict[str, str] = {}
    for name, command in {
        "create-study": ["create-study", "--config", str(config_path), "--load-if-exists"],
        "worker": ["worker", "--study", "quora-tiny"],
        "best --pareto": ["best", "--study", "quora-tiny", "--pareto"],
        "report": ["report", "--study", "quora-tiny", "-o", args.output],
    }.items():
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "hpo", *command], env=env, check=True, stdout=subprocess.PIPE)
        times[name] = time.perf_counter() - started
        outputs[name] = done.stdout.decode()
    study = optuna.load_study(study_name="quora-tiny", storage=args.storage)
    print_run("quora-tiny", times, study)
    print(f"best: trial {study.best_trial.number} ap={study.best_value:.4f}")
    for trial in study.trials:
        record = trial.user_attrs
        value = "-" if trial.value is None else f"{trial.value:.4f}"
        print(
            f"  trial {trial.number}: {trial.state.name:<8} ap {value} max_seq_length "
            f"{trial.params.get('max_seq_length')} ${record.get('cost_usd', 0):.5f} "
            f"{record.get('device_seconds', 0):.1f} s {record.get('encode_texts_per_second', '-')} texts/s"
        )
    print("\n" + outputs["best --pareto"].rstrip())
    print("report:", ", ".join(sorted(p.name for p in Path(args.output).iterdir())))


if __name__ == "__main__":
    main()
