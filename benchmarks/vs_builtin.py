"""hpo against SentenceTransformerTrainer.hyperparameter_search (Optuna backend), side by side.

    python benchmarks/vs_builtin.py [--trials 6] [--seed 42] [--also-fp32] [--workdir vs-builtin]

Both sides search the same space (learning rate, batch size, warmup) for all-MiniLM-L6-v2 with
MultipleNegativesRankingLoss on the BioASQ workload of bioasq_bench.py, with the same number of
trials, seed, TPE sampler settings, median pruner settings, dev split and dev evaluator (NDCG@10
on the 2,500-passage corpus). The built-in search runs as its documentation shows: ``hp_space``,
``model_init``, the loss as a function of the model, the evaluator on dev, ``eval_strategy="steps"``;
it scores every evaluation with that evaluator. hpo runs its CLI (create-study, worker, best):
intermediate evaluations on the 500-passage capped corpus, the full one after training, in the
precision hpo picks for the machine (``--also-fp32`` adds an hpo run with ``precision: fp32``; the
built-in search runs in fp32, as its documentation shows). ``--seed`` is the search and training
seed of both sides; the data subset stays the same. Each side's best config is then retrained and
scored on test. Each side runs in its own process, on the GPU when there is one (CPU otherwise);
the built-in side's logs stream to stderr while it runs, its result comes back as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import yaml

from benchmarks.bioasq_bench import MODEL, STUDY, hpo, study_config, trial_samples, write_subset

EVAL_STEPS = 4  # 64 samples at batch size 16, as often as hpo's schedule for the smaller batch
LR, BATCH, WARMUP = (5.0e-6, 5.0e-4), [16, 32], (0.0, 0.3)


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def builtin_data(folder: Path) -> tuple[Any, Any, Any]:
    """Train dataset, dev and test IR evaluators from the workload's files, as a notebook would."""
    from datasets import Dataset
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    train = _read(folder / "train.jsonl")
    corpus = {r["id"]: r["text"] for r in _read(folder / "corpus.jsonl")}

    def evaluator(split: str) -> InformationRetrievalEvaluator:
        rows = _read(folder / f"{split}.jsonl")
        return InformationRetrievalEvaluator(
            queries={r["id"]: r["query"] for r in rows},
            corpus=corpus,
            relevant_docs={r["id"]: set(r["relevant_ids"]) for r in rows},
            name=split,
            batch_size=32,
            write_csv=False,
        )

    dataset = Dataset.from_dict({"anchor": [r["query"] for r in train], "positive": [r["positive"] for r in train]})
    return dataset, evaluator("dev"), evaluator("test")


def run_builtin(folder: Path, trials: int, seed: int) -> dict[str, Any]:
    """The built-in search, then the best config retrained and scored on test."""
    started = time.perf_counter()
    import optuna
    import torch
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    from transformers import TrainerCallback

    from hpo.training.models import resolve_model_path

    train, dev, test = builtin_data(folder)
    path = resolve_model_path(MODEL)  # the packaged offline weights of the Hub id
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"built-in search: {trials} trials on {device}", file=sys.stderr, flush=True)

    def model_init(trial: Any = None) -> SentenceTransformer:
        model = SentenceTransformer(path, device=device)
        model.max_seq_length = 128
        return model

    def hp_space(trial: Any) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", *LR, log=True),
            "per_device_train_batch_size": trial.suggest_categorical("per_device_train_batch_size", BATCH),
            "warmup_steps": trial.suggest_float("warmup_steps", *WARMUP),  # below 1: a ratio
        }

    class CountSamples(TrainerCallback):
        samples = 0

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            CountSamples.samples += args.per_device_train_batch_size

    def arguments(output_dir: str, **params: Any) -> SentenceTransformerTrainingArguments:
        settings: dict[str, Any] = {
            "num_train_epochs": 1,
            "warmup_steps": 0.0,  # a float, or the search's ratio is cast to int 0 by the Trainer
            "seed": seed,
            "batch_sampler": BatchSamplers.NO_DUPLICATES,
            "eval_strategy": "steps",
            "eval_steps": EVAL_STEPS,
            "save_strategy": "no",
            "report_to": "none",
            "disable_tqdm": True,
            "use_cpu": device == "cpu",
        }
        return SentenceTransformerTrainingArguments(output_dir=output_dir, **{**settings, **params})

    output = folder / "builtin-checkpoints"
    trainer = SentenceTransformerTrainer(
        model_init=model_init,
        args=arguments(str(output)),
        train_dataset=train,
        loss=lambda model: MultipleNegativesRankingLoss(model),
        evaluator=dev,
        callbacks=[CountSamples()],
    )
    best = trainer.hyperparameter_search(
        hp_space=hp_space,
        compute_objective=lambda metrics: metrics["eval_dev_cosine_ndcg@10"],
        n_trials=trials,
        direction="maximize",
        backend="optuna",
        sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=3),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
    )
    search_seconds = time.perf_counter() - started
    if isinstance(best, list):  # only multi-objective searches return a list
        raise TypeError("a single-objective search returned several best runs")
    states = [t.state.name for t in cast(optuna.Trial, trainer._trial).study.trials]

    retrain_started = time.perf_counter()
    final = SentenceTransformerTrainer(
        model=model_init(),
        args=arguments(str(output), **best.hyperparameters),
        train_dataset=train,
        loss=lambda model: MultipleNegativesRankingLoss(model),
        evaluator=dev,
    )
    final.args.eval_strategy = "no"
    final.train()
    test_ndcg = test(final.model)["test_cosine_ndcg@10"]
    return {
        "wall_seconds": search_seconds,
        "samples": CountSamples.samples,
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "best_dev": best.objective,
        "best_params": best.hyperparameters,
        "test": test_ndcg,
        "retrain_seconds": time.perf_counter() - retrain_started,
    }


def run_hpo(folder: Path, trials: int, seed: int, precision: str) -> dict[str, Any]:
    """hpo's CLI on an SQLite file, then ``hpo train`` of the best config (scores test)."""
    import optuna

    config = folder / f"study-{precision}.yaml"
    raw = study_config(folder, budget={"n_trials": trials}, seed=seed, precision=precision)
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    storage = f"sqlite:///{folder / f'hpo-{precision}.db'}"
    best_yaml, final = folder / f"best-{precision}.yaml", folder / f"final-{precision}"
    seconds = hpo("create-study", "--config", str(config), storage=storage)
    seconds += hpo("worker", "--study", STUDY, "--progress", "log", storage=storage)
    seconds += hpo("best", "--study", STUDY, "-o", str(best_yaml), storage=storage)
    study = optuna.load_study(study_name=STUDY, storage=storage)
    states = [t.state.name for t in study.trials]
    retrain_started = time.perf_counter()
    hpo("train", str(best_yaml), "-o", str(final), storage=storage)
    report = json.loads((final / "hpo_final.json").read_text())
    return {
        "wall_seconds": seconds,
        "samples": sum(trial_samples(t) for t in study.trials),
        "complete": states.count("COMPLETE"),
        "pruned": states.count("PRUNED"),
        "best_dev": study.best_value,
        "best_params": study.best_params,
        "test": report["test"]["metrics"]["test_cosine_ndcg@10"],
        "retrain_seconds": time.perf_counter() - retrain_started,
        "precision": study.trials[0].user_attrs.get("device", "?"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=Path("vs-builtin"))
    parser.add_argument(
        "--also-fp32", action="store_true", help="also run hpo with precision: fp32, to show what bf16 contributes"
    )
    parser.add_argument("--side", choices=["builtin"], help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.side == "builtin":
        print(json.dumps(run_builtin(args.workdir, args.trials, args.seed)))
        return

    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve())
    child = [
        sys.executable,
        "-m",
        "benchmarks.vs_builtin",
        "--side",
        "builtin",
        "--trials",
        str(args.trials),
        "--seed",
        str(args.seed),
    ]
    child += ["--workdir", str(folder)]
    started = time.perf_counter()
    # Only stdout (the result line) is captured: the child's logs reach the terminal as it runs.
    out = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
    builtin = json.loads(out.strip().splitlines()[-1])
    builtin["process_seconds"] = time.perf_counter() - started
    results = {"builtin": builtin, "hpo": run_hpo(folder, args.trials, args.seed, "auto")}
    if args.also_fp32:
        results["hpo fp32"] = run_hpo(folder, args.trials, args.seed, "fp32")
    (folder / "results.json").write_text(json.dumps(results, indent=2))
    print_table(results)


def print_table(results: dict[str, dict[str, Any]]) -> None:
    b = results["builtin"]
    ours = [name for name in results if name != "builtin"]
    rows = [
        ("search wall time (s)", "wall_seconds", "{:.1f}"),
        ("training samples consumed", "samples", "{:d}"),
        ("trials complete", "complete", "{:d}"),
        ("trials pruned", "pruned", "{:d}"),
        ("best dev NDCG@10", "best_dev", "{:.4f}"),
        ("test NDCG@10 of retrained best", "test", "{:.4f}"),
        ("retrain + test (s)", "retrain_seconds", "{:.1f}"),
    ]
    header = "".join(f"{name:>12}{name + '/builtin':>20}" for name in ours)
    print(f"\n{'':34}{'builtin':>12}{header}")
    for label, key, fmt in rows:
        cells = "".join(
            f"{fmt.format(results[n][key]):>12}{results[n][key] / b[key] if b[key] else float('nan'):>20.3f}"
            for n in ours
        )
        print(f"{label:34}{fmt.format(b[key]):>12}{cells}")
    print("precision: builtin fp32 (as its docs show); " + "; ".join(f"{n} {results[n]['precision']}" for n in ours))
    for name, side in results.items():
        print(f"best params {name}: {side['best_params']}")


if __name__ == "__main__":
    main()
