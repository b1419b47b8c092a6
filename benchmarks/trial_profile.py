"""Where a worker's wall time goes on the BioASQ study, from process start to exit.

    python -m benchmarks.trial_profile [--trials 3] [--workdir trial-profile]
    python -m benchmarks.trial_profile --second-worker [--trials 3] [--train 256] [--corpus 2500] [--dev 50]

Creates the study of bioasq_bench.py, then starts one ``hpo worker``-equivalent process that
times its imports, its start-up (storage, data), and every storage call made by the main thread;
each trial records its own phases (model copy, trainer set-up, training, evaluations, reporting).
Useful work is training plus evaluations (the intermediate ones the pruner needs and the final one
that gives the trial its value); the report gives its share of the worker's wall time.

``--second-worker`` measures warm workers: every trial has the same fixed parameters (so each does
the same work) and two worker processes run ``--trials`` each, one after the other, on a fresh
disk cache (``HPO_CACHE`` in the work folder). The first worker builds the shared entries; the
second finds them. For each worker: its first trial's wall time against the mean of its later ones.
``--train``, ``--corpus`` and ``--dev`` shrink the workload (the capped corpus is a fifth of it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bioasq_bench import STUDY, Workload, hpo, study_config, write_subset

TRIAL_PHASES = ("model", "setup", "train", "evaluate_intermediate", "evaluate_final", "report")
USEFUL = ("train", "evaluate_intermediate", "evaluate_final")


def child(storage: str, n_trials: int | None = None) -> dict[str, Any]:
    """The worker process: import, patch a storage-call timer in, run the worker loop."""
    started = time.time()
    clock = time.perf_counter()
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401

    import hpo.store.retrying_storage
    from hpo.store.storage import StorageUrl
    from hpo.training.run import train_trial  # noqa: F401
    from hpo.workers.worker import run_worker

    imports = time.perf_counter() - clock
    storage_seconds = [0.0]
    original = hpo.store.retrying_storage.retry_call

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if threading.current_thread() is threading.main_thread():  # heartbeats run beside
                storage_seconds[0] += time.perf_counter() - began

    hpo.store.retrying_storage.retry_call = timed
    clock = time.perf_counter()
    summary = run_worker(StorageUrl.parse(storage), STUDY, n_trials=n_trials)
    return {
        "started": started,
        "imports": imports,
        "loop": time.perf_counter() - clock,
        "startup": summary.startup_seconds,
        "storage": storage_seconds[0],
        "states": summary.states,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("trial-profile"))
    parser.add_argument("--second-worker", action="store_true", help="first trial of a second worker (see above)")
    parser.add_argument("--train", type=int, default=Workload.train, help="--second-worker: training pairs")
    parser.add_argument("--corpus", type=int, default=Workload.corpus, help="--second-worker: corpus passages")
    parser.add_argument("--dev", type=int, default=Workload.dev, help="--second-worker: dev queries")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-trials", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.child_trials)))
        return
    if args.second_worker:
        workload = Workload(train=args.train, dev=args.dev, corpus=args.corpus, corpus_cap=args.corpus // 5)
        second_worker(args.workdir, args.trials, workload)
        return

    import optuna

    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve())
    config = folder / "study.yaml"
    config.write_text(yaml.safe_dump(study_config(folder, budget={"n_trials": args.trials}), sort_keys=False))
    storage = f"sqlite:///{folder / 'profile.db'}"
    hpo("create-study", "--config", str(config), storage=storage)

    spawned = time.time()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.trial_profile", "--child", storage],
        check=True,
        capture_output=True,
        text=True,
    )
    wall = time.time() - spawned
    report = json.loads(out.stdout.strip().splitlines()[-1])
    trials = optuna.load_study(study_name=STUDY, storage=storage).trials
    phases: dict[str, float] = {
        "process start": report["started"] - spawned,
        "imports": report["imports"],
        "storage open + study load": report["startup"]["storage"],
        "data load + fingerprint": report["startup"]["data"],
    }
    for phase in TRIAL_PHASES:
        phases[f"trial: {phase}"] = sum(t.user_attrs.get("seconds", {}).get(phase, 0.0) for t in trials)
    accounted = sum(phases.values())
    phases["other (claim, tell, sampler, exit)"] = wall - accounted
    useful = sum(phases[f"trial: {p}"] for p in USEFUL)

    print(f"\nworker wall time {wall:.1f} s, trials {report['states']}")
    print(f"{'phase':40}{'seconds':>10}{'share':>9}")
    for phase, seconds in phases.items():
        print(f"{phase:40}{seconds:>10.1f}{seconds / wall:>9.1%}")
    print(f"{'storage calls, main thread (within above)':40}{report['storage']:>10.1f}{report['storage'] / wall:>9.1%}")
    for t in trials:
        s = t.user_attrs.get("seconds", {})
        print(f"  trial {t.number} {t.state.name:<8} " + " ".join(f"{k}={v:.1f}" for k, v in s.items()))
    print(f"useful work (training + evaluations): {useful:.1f} s = {useful / wall:.1%} of the worker's wall time")
    (folder / "profile.json").write_text(json.dumps({"wall": wall, "phases": phases, "useful": useful}, indent=2))


# Every trial the same work: the searched parameters are fixed, and no pruner stops a trial early.
FIXED_SPACE = {"learning_rate": 5.0e-5, "batch_size": 32, "warmup_ratio": 0.1}


def second_worker(workdir: Path, trials: int, workload: Workload) -> None:
    """Two workers in turn on a fresh disk cache; each one's first trial against its later ones."""
    import optuna

    shutil.rmtree(workdir, ignore_errors=True)
    folder = write_subset(workdir.resolve(), workload)
    raw = study_config(folder, workload, budget={"n_trials": 2 * trials}, pruner={"type": "none"})
    raw["search_space"].update(FIXED_SPACE)
    config = folder / "study.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    storage = f"sqlite:///{folder / 'profile.db'}"
    hpo("create-study", "--config", str(config), storage=storage)
    env = {**os.environ, "HPO_CACHE": str(folder / "cache"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "benchmarks.trial_profile", "--child", storage, "--child-trials", str(trials)]
    reports = []
    for _ in range(2):
        out = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        reports.append(json.loads(out.stdout.strip().splitlines()[-1]))
    by_number = {t.number: t for t in optuna.load_study(study_name=STUDY, storage=storage).trials}
    results: dict[str, Any] = {}
    print(f"\n{trials} trials per worker, same parameters each: {FIXED_SPACE}; {workload}")
    print(f"{'worker':28}{'first trial (s)':>17}{'later, mean (s)':>17}{'first / later':>15}")
    names = ("first worker (cold cache)", "second worker (warm)")
    for n, (name, report) in enumerate(zip(names, reports, strict=True)):
        walls = [by_number[n * trials + i].user_attrs["wall_seconds"] for i in range(trials)]
        later = sum(walls[1:]) / len(walls[1:])
        results[name] = {"first": walls[0], "later": later, "ratio": walls[0] / later, "startup": report["startup"]}
        print(f"{name:28}{walls[0]:>17.1f}{later:>17.1f}{walls[0] / later:>15.2f}")
        for i in range(trials):
            phases = by_number[n * trials + i].user_attrs.get("seconds", {})
            print(f"    trial {n * trials + i}: " + " ".join(f"{k}={v:.1f}" for k, v in phases.items()))
        startup = " ".join(f"{k}={v:.1f}" for k, v in report["startup"].items())
        print(f"    start-up: imports={report['imports']:.1f} {startup}")
    (folder / "second-worker.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
