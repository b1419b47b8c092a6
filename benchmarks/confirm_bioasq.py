"""BioASQ with the offline MiniLM: search, confirm the top configs with new seeds, test the winner.

    python -m benchmarks.confirm_bioasq --size smoke [--storage sqlite:///confirm-smoke.db]
    python -m benchmarks.confirm_bioasq --size full  [--storage sqlite:///confirm-full.db] [--no-pruner]

``full`` is ``benchmarks/bioasq-minilm.yaml`` (256 training questions, 100 dev questions scored on a
1,000-passage capped corpus, 6 trials) priced at $0.20 per CPU hour, then ``hpo confirm --top-k 3
--seeds 3`` (9 runs), then the confirmed winner retrained and tested on all 324 test questions
against the full 18,687-passage corpus, next to MiniLM zero-shot. ``smoke`` runs the same
commands on a small subset (bioasq_bench's writer: 64 training, 30 dev and 40 test questions,
600 passages; 3 trials, top 2 with 2 seeds). Runs every command as a user would (its own process,
offline) and prints each command's wall time, the search, the confirmation report (mean ± sd per
config, the winner, whether the search's best stayed best, the verdicts) and the test verdicts.
With ``--no-pruner`` the search runs without its pruner, so that every trial completes and
``--top-k`` has as many configs to confirm.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna
import yaml

from benchmarks.bioasq_bench import Workload, study_config, write_subset

CONFIG = Path(__file__).with_name("bioasq-minilm.yaml")
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"top_k": "2", "seeds": "2"},
    "full": {"top_k": "3", "seeds": "3"},
}


def _full_config(work: Path) -> Path:
    """The CPU-sized BioASQ study of bioasq-minilm.yaml, priced, its data paths made absolute."""
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for key in ("train", "dev", "test", "corpus"):
        raw["data"][key]["path"] = str((CONFIG.parent / raw["data"][key]["path"]).resolve())
    raw["study_name"] = "bioasq-confirm"
    raw["cost"] = {"cpu": 0.20}
    path = work / "bioasq-confirm.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _smoke_config(work: Path) -> Path:
    workload = Workload(train=64, dev=30, test=40, corpus=600, corpus_cap=200)
    folder = write_subset(work / "data", workload)
    raw = study_config(
        folder,
        workload,
        study_name="bioasq-confirm",
        evaluation={"every_samples": 32, "corpus_cap": workload.corpus_cap, "final_corpus": "capped"},
        budget={"n_trials": 3},
        cost={"cpu": 0.20},
    )
    path = work / "bioasq-confirm.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def _hpo(*args: str, storage: str) -> tuple[float, str]:
    """One ``hpo`` command in its own process: its wall seconds and stdout (stderr passes through)."""
    started = time.perf_counter()
    env = {**os.environ, "HPO_STORAGE": storage, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "hpo", *args], env=env, check=True, stdout=subprocess.PIPE, text=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="smoke")
    parser.add_argument("--storage", help="default: sqlite:///confirm-<size>.db in a new temporary folder")
    parser.add_argument(
        "--no-pruner", action="store_true", help="search without the pruner, so that every trial completes"
    )
    args = parser.parse_args()
    size = SIZES[args.size]
    work = Path(tempfile.mkdtemp(prefix=f"confirm-{args.size}-"))
    storage = args.storage or f"sqlite:///{work}/confirm.db"
    config = _full_config(work) if args.size == "full" else _smoke_config(work)
    if args.no_pruner:  # K distinct complete configs for --top-k K, whatever the pruner would stop
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
        raw["pruner"] = {"type": "none"}
        config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    study = "bioasq-confirm"
    best = work / "confirmed.yaml"
    steps: list[tuple[str, tuple[str, ...]]] = [
        ("create-study", ("create-study", "--config", str(config), "--load-if-exists")),
        ("baseline", ("baseline", "--study", study, "--progress", "log")),
        ("worker (search)", ("worker", "--study", study)),
        ("confirm", ("confirm", "--study", study, "--top-k", size["top_k"], "--seeds", size["seeds"])),
        ("worker (confirm)", ("worker", "--study", study)),
        ("confirm --report", ("confirm", "--study", study, "--report")),
        ("status", ("status", "--study", study)),
        ("best --confirmed", ("best", "--study", study, "--confirmed", "-o", str(best))),
        ("train", ("train", str(best), "-o", str(work / "model"), "--progress", "log")),
    ]
    times: dict[str, float] = {}
    outputs: dict[str, str] = {}
    for name, command in steps:
        times[name], outputs[name] = _hpo(*command, storage=storage)

    trials = optuna.load_study(study_name=study, storage=storage).trials
    print(f"\n== confirm_bioasq ({args.size}) ==")
    for name, seconds in times.items():
        print(f"wall time {name:<17} {seconds:8.1f} s")
    print("\nsearch trials:")
    for trial in trials:
        if "confirms_trial" not in trial.user_attrs:
            value = "-" if trial.value is None else f"{trial.value:.4f}"
            print(f"  trial {trial.number}: {trial.state.name:<8} ndcg@10 {value}  {trial.params}")
    print("\n" + outputs["confirm --report"].rstrip())
    print("\n" + "\n".join(line for line in outputs["status"].splitlines() if line.startswith(("verdict", "spend"))))
    print("\n" + outputs["train"].rstrip())
    print(f"\nfiles in {work}")


if __name__ == "__main__":
    main()
