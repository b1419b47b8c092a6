"""Where a worker's wall time goes on the BioASQ study, from process start to exit.

    python benchmarks/trial_profile.py [--trials 3] [--workdir trial-profile]

Creates the study of bioasq_bench.py, then starts one ``hpo worker``-equivalent process that
times its imports, its start-up (storage, data), and every storage call made by the main thread;
each trial records its own phases (model copy, trainer set-up, training, evaluations, reporting).
Useful work is training plus evaluations (the intermediate ones the pruner needs and the final one
that gives the trial its value); the report gives its share of the worker's wall time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bioasq_bench import STUDY, hpo, study_config, write_subset

TRIAL_PHASES = ("model", "setup", "train", "evaluate_intermediate", "evaluate_final", "report")
USEFUL = ("train", "evaluate_intermediate", "evaluate_final")


def child(storage: str) -> dict[str, Any]:
    """The worker process: import, patch a storage-call timer in, run the worker loop."""
    started = time.time()
    clock = time.perf_counter()
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401

    import hpo.retrying_storage
    from hpo.storage import StorageUrl
    from hpo.training.run import run_training  # noqa: F401
    from hpo.worker import run_worker

    imports = time.perf_counter() - clock
    storage_seconds = [0.0]
    original = hpo.retrying_storage.retry_call

    def timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if threading.current_thread() is threading.main_thread():  # heartbeats run beside
                storage_seconds[0] += time.perf_counter() - began

    hpo.retrying_storage.retry_call = timed  # type: ignore[assignment]
    clock = time.perf_counter()
    summary = run_worker(StorageUrl.parse(storage), STUDY)
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
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


if __name__ == "__main__":
    main()
