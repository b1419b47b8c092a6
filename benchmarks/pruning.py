"""The same BioASQ study with and without the pruner: training samples consumed and best dev NDCG@10.

    python benchmarks/pruning.py [--trials 6] [--workdir pruning]

Both studies use the workload of bioasq_bench.py with a seeded random sampler, so trial N has the
same parameters in both (hpo seeds each trial from the study seed and its number) and the only
difference is the median pruner (n_startup_trials 2). Trials are scored on the capped corpus
(the last intermediate evaluation is the trial's value), which keeps this benchmark short.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from bioasq_bench import STUDY, hpo, study_config, trial_samples, write_subset

VARIANTS = {"pruner": {"type": "median", "n_startup_trials": 2}, "no pruner": {"type": "none"}}


def run(folder: Path, name: str, pruner: dict[str, Any], trials: int) -> dict[str, Any]:
    import optuna

    slug = name.replace(" ", "-")
    raw = study_config(
        folder,
        pruner=pruner,
        sampler={"type": "random"},
        budget={"n_trials": trials},
        evaluation={"every_samples": 64, "corpus_cap": 500, "final_corpus": "capped"},
    )
    config = folder / f"{slug}.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    storage = f"sqlite:///{folder / f'{slug}.db'}"
    started = time.perf_counter()
    hpo("create-study", "--config", str(config), storage=storage)
    hpo("worker", "--study", STUDY, "--progress", "log", storage=storage)
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name=STUDY, storage=storage)
    return {
        "wall": wall,
        "samples": sum(trial_samples(t) for t in study.trials),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
        "best": study.best_value,
        "best_trial": study.best_trial.number,
        "values": {t.number: (t.state.name, t.value, trial_samples(t)) for t in study.trials},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=Path("pruning"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve())
    results = {name: run(folder, name, pruner, args.trials) for name, pruner in VARIANTS.items()}

    with_, without = results["pruner"], results["no pruner"]
    print(f"\n{'':28}{'no pruner':>12}{'pruner':>12}")
    print(f"{'wall time (s)':28}{without['wall']:>12.1f}{with_['wall']:>12.1f}")
    print(f"{'training samples':28}{without['samples']:>12d}{with_['samples']:>12d}")
    print(f"{'trials pruned':28}{without['pruned']:>12d}{with_['pruned']:>12d}")
    print(f"{'best dev NDCG@10':28}{without['best']:>12.4f}{with_['best']:>12.4f}")
    print(f"{'best trial':28}{without['best_trial']:>12d}{with_['best_trial']:>12d}")
    saved = 1 - with_["samples"] / without["samples"]
    print(f"samples saved by pruning: {saved:.1%}; best dev NDCG@10 lost: {without['best'] - with_['best']:.4f}")
    print(f"wall time ratio pruner/no pruner: {with_['wall'] / without['wall']:.3f}")
    for number in sorted(without["values"]):
        a, b = without["values"][number], with_["values"][number]
        print(f"  trial {number}: no pruner {a[0]} {a[1]:.4f} ({a[2]} samples) | pruner {b[0]} {b[2]} samples")


if __name__ == "__main__":
    main()
