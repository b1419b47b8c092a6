"""The same BioASQ study with and without a pruner: training samples consumed and best dev NDCG@10.

    python benchmarks/pruning.py [--trials 12] [--real median percentile-25] [--workdir pruning]

Every study uses the workload of bioasq_bench.py with a seeded random sampler, so trial N has the
same parameters in all of them (hpo seeds each trial from the study seed and its number) and the
only difference is the pruner. Trials are scored on the capped corpus (the last intermediate
evaluation is the trial's value), which keeps this benchmark short.

First the study runs without a pruner, which records every trial's whole curve. Each candidate
pruner is then replayed on those curves (an in-memory Optuna study asks it at every reported step,
trial by trial, as a worker does), which costs no training. Last, the pruners named by ``--real``
run as real studies, and the script checks that each pruned the same trials at the same steps as
its replay: the replayed figures of the others are then what a real run would have shown.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bioasq_bench import STUDY, hpo, study_config, trial_samples, write_subset

PRUNERS: dict[str, dict[str, Any]] = {
    # hpo's default: the trial's latest value against the median of completed trials at that step
    "median": {"type": "median", "n_startup_trials": 2},
    "percentile-40": {"type": "percentile", "percentile": 40.0, "n_startup_trials": 2},
    # Optuna's own rule: the trial's best value so far
    "median-best": {"type": "median", "n_startup_trials": 2, "compare": "best"},
    "percentile-40-best": {"type": "percentile", "percentile": 40.0, "n_startup_trials": 2, "compare": "best"},
    "hyperband-3": {"type": "hyperband", "min_resource": 64, "reduction_factor": 3},
    "hyperband-2": {"type": "hyperband", "min_resource": 64, "reduction_factor": 2},
}
Outcome = dict[int, tuple[str, int, float | None]]  # trial number -> (state, samples, value)


def run(folder: Path, name: str, pruner: dict[str, Any], trials: int) -> tuple[float, Any]:
    """One real study (create-study + worker) with ``pruner``; its wall seconds and the study."""
    import optuna

    raw = study_config(
        folder,
        pruner=pruner,
        sampler={"type": "random"},
        budget={"n_trials": trials},
        evaluation={"every_samples": 64, "corpus_cap": 500, "final_corpus": "capped"},
    )
    config = folder / f"{name}.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    storage = f"sqlite:///{folder / f'{name}.db'}"
    started = time.perf_counter()
    hpo("create-study", "--config", str(config), storage=storage)
    hpo("worker", "--study", STUDY, "--progress", "log", storage=storage)
    return time.perf_counter() - started, optuna.load_study(study_name=STUDY, storage=storage)


def outcome(study: Any) -> Outcome:
    return {t.number: (t.state.name, trial_samples(t), t.value) for t in study.trials}


def replay(curves: dict[int, dict[int, float]], pruner: dict[str, Any]) -> Outcome:
    """What ``pruner`` would have done to trials with these curves, run in this order."""
    import optuna

    from hpo.store.config_file import parse_config
    from hpo.store.study import build_pruner

    config = parse_config(study_config(Path("."), pruner=pruner), source="pruning")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY, direction="maximize", pruner=build_pruner(config))
    result: Outcome = {}
    for number in sorted(curves):
        trial = study.ask()
        steps = sorted(curves[number].items())
        for step, value in steps:
            trial.report(value, step)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                result[number] = ("PRUNED", step, value)
                break
        else:
            study.tell(trial, steps[-1][1])
            result[number] = ("COMPLETE", steps[-1][0], steps[-1][1])
    return result


def summary(result: Outcome) -> tuple[int, float, list[str]]:
    """Samples consumed, best complete value, and where each pruned trial stopped."""
    samples = sum(s for _, s, _ in result.values())
    best = max(v for state, _, v in result.values() if state == "COMPLETE" and v is not None)
    pruned = [f"{n}@{s}" for n, (state, s, _) in sorted(result.items()) if state == "PRUNED"]
    return samples, best, pruned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--real", nargs="*", default=["median", "percentile-40"], choices=sorted(PRUNERS))
    parser.add_argument("--workdir", type=Path, default=Path("pruning"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve())

    base_wall, base_study = run(folder, "no-pruner", {"type": "none"}, args.trials)
    curves = {t.number: dict(t.intermediate_values) for t in base_study.trials}
    base_samples, base_best, _ = summary(outcome(base_study))
    print(f"\nno pruner: {args.trials} trials, {base_samples} samples, best dev NDCG@10 {base_best:.4f}")
    for number, curve in sorted(curves.items()):
        params = base_study.trials[number].params
        print(f"  trial {number}: " + " ".join(f"{v:.4f}" for _, v in sorted(curve.items())) + f"  {params}")

    print("\nreplayed on those curves:")
    print(f"{'pruner':20}{'samples':>9}{'saved':>8}{'best':>9}{'lost':>9}  pruned (trial@samples)")
    for name, pruner in PRUNERS.items():
        samples, best, pruned = summary(replay(curves, pruner))
        saved, lost = 1 - samples / base_samples, base_best - best
        print(f"{name:20}{samples:>9d}{saved:>8.1%}{best:>9.4f}{lost:>9.4f}  {' '.join(pruned) or '-'}")

    for name in args.real:
        wall, study = run(folder, name, PRUNERS[name], args.trials)
        real = outcome(study)
        samples, best, pruned = summary(real)
        expected = replay(curves, PRUNERS[name])
        same = all(real[n][:2] == expected[n][:2] for n in expected)
        print(
            f"\nreal run, {name}: {samples} samples ({1 - samples / base_samples:.1%} saved), best {best:.4f} "
            f"(lost {base_best - best:.4f}); pruned {' '.join(pruned) or '-'}"
        )
        print(f"  wall {wall:.1f} s against {base_wall:.1f} s without a pruner ({wall / base_wall:.3f}x)")
        print(f"  same trials pruned at the same steps as its replay: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
