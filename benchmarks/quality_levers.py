"""Quality levers on BioASQ with MiniLM: in-batch negatives only, + mined hard negatives searched, + Matryoshka.

    python -m benchmarks.quality_levers [--size small|full|smoke] [--trials N] [--workdir DIR] [--replay]

The workload of bioasq_bench.py (``--size full``: 256 training questions, 50 dev, 100 test, a
2,500-passage pool; ``small``: 128, 40, 100, 1,000). Three studies with the same trial budget,
the same seeded TPE sampler and no pruner:

1. in-batch: MultipleNegativesRankingLoss on (question, passage) pairs, learning rate, batch size
   and warmup searched;
2. + hard negatives: the same, plus the miner (BM25 or dense), num_negatives, the rank window,
   relative_margin and sampling searched;
3. + Matryoshka: as 2, with MatryoshkaLoss at 256, 128 and 64 dimensions (MiniLM's full size is 384).

Each study's best trial is retrained (reading its mined negatives from the cache, as ``hpo train``
does) and scored on the test split over the whole pool; the per-query NDCG@10 comes from the
InformationRetrievalEvaluator's own predictions. Printed: test NDCG@10 with a paired bootstrap 95%
interval against in-batch, mining time and cache use per study, test NDCG@10 per dimension,
the mining cache's cold and warm times on the same settings, and how many mined negatives are
positives the workload did not label (BioASQ lists several relevant passages per question; the
workload trains on the first only). ``--replay`` then retrains the in-batch best with a grid of
mining settings, to see which of them help or hurt.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import optuna
import yaml

from benchmarks.bioasq_bench import SOURCE, Workload, hpo, study_config, write_subset
from hpo import attrs
from hpo.settings.config import StudyConfig
from hpo.settings.levers import HardNegatives
from hpo.settings.space import TrainingParams
from hpo.stats.significance import paired_bootstrap
from hpo.store.config_file import parse_config
from hpo.training.disk_cache import CACHE_ENV
from hpo.training.mined_cache import MinedCache

SIZES = {
    "small": (Workload(train=128, dev=40, test=100, corpus=1000, corpus_cap=300), 3),
    "full": (Workload(), 6),
    "smoke": (Workload(train=64, dev=10, test=20, corpus=200, corpus_cap=100), 1),  # checks the script runs
}
MINING = {
    "miner": {"type": "categorical", "choices": ["bm25", "dense"]},
    "num_negatives": {"type": "int", "low": 1, "high": 3},
    "range_min": {"type": "int", "low": 0, "high": 10},
    "range_max": {"type": "int", "low": 20, "high": 100},
    "relative_margin": {"type": "float", "low": 0.0, "high": 0.1},
    "sampling": {"type": "categorical", "choices": ["top", "random"]},
}
ARMS: dict[str, dict[str, Any]] = {
    "in-batch": {},
    "hard-negatives": {"hard_negatives": MINING},
    "matryoshka": {"hard_negatives": MINING, "matryoshka_dims": [256, 128, 64]},
}
DIMS = (384, 256, 128, 64)
TIMED: dict[str, Any] = {
    "num_negatives": 2,
    "range_min": 5,
    "range_max": 50,
    "relative_margin": 0.05,
    "sampling": "top",
}
REPLAY = [  # mining settings retrained with the in-batch best's hyperparameters
    {"miner": "bm25", "num_negatives": 1, "range_min": 0, "range_max": 20},
    {"miner": "bm25", "num_negatives": 1, "range_min": 10, "range_max": 50},
    {"miner": "dense", "num_negatives": 1, "range_min": 0, "range_max": 20},
    {"miner": "dense", "num_negatives": 1, "range_min": 10, "range_max": 50},
    {"miner": "dense", "num_negatives": 3, "range_min": 10, "range_max": 50, "relative_margin": 0.05},
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--trials", type=int, help="trials per study (small: 3, full: 6)")
    parser.add_argument("--workdir", type=Path, default=Path("quality-levers-bench"))
    parser.add_argument(
        "--replay", action="store_true", help="also retrain the in-batch best with other mining settings"
    )
    parser.add_argument("--replay-only", action="store_true", help="only the replay, on an earlier --workdir")
    args = parser.parse_args()
    args.workdir = args.workdir.resolve()  # the study configs name their data files by absolute path
    workload, default_trials = SIZES[args.size]
    trials = args.trials or default_trials
    if args.replay_only:
        storage = f"sqlite:///{args.workdir / 'in-batch' / 'study.db'}"
        best = optuna.load_study(study_name="levers-in-batch", storage=storage).best_trial
        replay(args.workdir, args.workdir / "data", workload, TrainingParams.from_dict(best.user_attrs[attrs.TRAINING]))
        return
    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = write_subset(args.workdir / "data", workload)
    started = time.perf_counter()
    results = {arm: run_arm(args.workdir, data_dir, workload, arm, trials) for arm in ARMS}
    reference = results["in-batch"]["per_query"]
    print(
        f"\n== quality levers: bioasq {args.size} ({workload.train} train, {workload.test} test questions, "
        f"{workload.corpus} passages), {trials} trials per study =="
    )
    header = f"{'study':<15} {'best dev':>8} {'test ndcg@10':>12}  {'vs in-batch [95% CI]':<34} {'mining s':>8}"
    print(header + "  cache  wall s")
    for arm, result in results.items():
        versus = "-" if arm == "in-batch" else paired_bootstrap(result["per_query"], reference, seed=0).describe()
        print(
            f"{arm:<15} {result['dev']:8.4f} {result['test']:12.4f}  {versus:<34} {result['mining_seconds']:8.1f}  "
            f"{result['cache']:<6} {result['wall']:6.0f}"
        )
    matryoshka = results["matryoshka"]["by_dim"]
    full = matryoshka[DIMS[0]]
    print(
        "test ndcg@10 by dimension (matryoshka study's best): "
        + ", ".join(f"{d}: {v:.4f} ({v / full:.1%})" for d, v in matryoshka.items())
    )
    plain = results["hard-negatives"]["by_dim"]
    print(
        "the same without MatryoshkaLoss (hard-negatives study's best, truncated): "
        + ", ".join(f"{d}: {v:.4f} ({v / plain[DIMS[0]]:.1%})" for d, v in plain.items())
    )
    for arm in ("hard-negatives", "matryoshka"):
        print(f"{arm} trials:")
        for line in results[arm]["trials"]:
            print("  " + line)
        print(f"  best's mined negatives that are unlabelled positives: {results[arm]['false_negatives']}")
    cache_timing(args.workdir, data_dir, workload)
    if args.replay:
        replay(args.workdir, data_dir, workload, results["in-batch"]["params"])
    print(f"total wall time {time.perf_counter() - started:.0f} s")
    (args.workdir / "results.json").write_text(json.dumps({a: _jsonable(r) for a, r in results.items()}, indent=1))


def run_arm(workdir: Path, data_dir: Path, workload: Workload, arm: str, trials: int) -> dict[str, Any]:
    """One study: search, retrain its best, score it on test; what the summary table needs."""
    folder = workdir / arm
    folder.mkdir(parents=True)
    raw = _config(data_dir, workload, arm, trials)
    config_path = folder / "study.yaml"
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    storage = f"sqlite:///{folder / 'study.db'}"
    os.environ[CACHE_ENV] = str(folder / "cache")  # each study mines for itself: honest mining times
    started = time.perf_counter()
    hpo("create-study", "--config", str(config_path), storage=storage)
    hpo("worker", "--study", raw["study_name"], "--progress", "log", storage=storage)
    wall = time.perf_counter() - started
    study = optuna.load_study(study_name=raw["study_name"], storage=storage)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial
    params = TrainingParams.from_dict(best.user_attrs[attrs.TRAINING])
    config = parse_config(raw, source=str(config_path))
    per_query, by_dim, false_negatives = retrain_and_test(config, params, folder / "cache")
    uses = [t.user_attrs.get(attrs.MINING_CACHE) for t in complete if attrs.MINING_CACHE in t.user_attrs]
    return {
        "dev": float(best.value or 0.0),
        "params": params,
        "per_query": per_query,
        "test": sum(per_query) / len(per_query),
        "by_dim": by_dim,
        "mining_seconds": sum(float(t.user_attrs.get(attrs.MINING_SECONDS, 0.0)) for t in complete),
        "cache": f"{uses.count('hit')}/{len(uses)}" if uses else "-",
        "wall": wall,
        "false_negatives": false_negatives,
        "trials": [_describe_trial(t) for t in complete],
    }


def _config(data_dir: Path, workload: Workload, arm: str, trials: int) -> dict[str, Any]:
    raw = study_config(
        data_dir,
        workload,
        study_name=f"levers-{arm}",
        evaluation={"every_samples": 64, "corpus_cap": workload.corpus_cap, "final_corpus": "capped"},
        sampler={"type": "tpe", "n_startup_trials": min(3, trials)},
        pruner={"type": "none"},
        budget={"n_trials": trials},
    )
    raw["search_space"].update(ARMS[arm])
    return raw


def retrain_and_test(
    config: StudyConfig, params: TrainingParams, cache_dir: Path
) -> tuple[list[float], dict[int, float], str]:
    """Retrain ``params`` as ``hpo train`` does; per-query test NDCG@10, mean NDCG@10 per dimension, false negatives."""
    from hpo.training.result import NullReporter
    from hpo.training.run import train_model
    from hpo.training.run_cache import RunCache
    from objectives.registry import get_task

    task = get_task("retrieval")
    data = task.load_data(config, include_test=True)
    cache = RunCache(task, data, config, mined=MinedCache(cache_dir / "mined"))
    _, model = train_model(task, params, data, config, NullReporter(), cache=cache)
    per_dim = test_ndcg_by_dimension(task, data, config, model)
    false_negatives = "-"
    if params.hard_negatives is not None:
        dataset, _ = cache.mined_train_dataset(params, "cpu", "fp32")
        false_negatives = unlabelled_positive_share(dataset)
    return per_dim[DIMS[0]], {d: sum(v) / len(v) for d, v in per_dim.items()}, false_negatives


def test_ndcg_by_dimension(task: Any, data: Any, config: StudyConfig, model: Any) -> dict[int, list[float]]:
    """Per-query NDCG@10 on test at each dimension, from the InformationRetrievalEvaluator's predictions."""
    import tempfile

    from hpo.training.matryoshka import full_size_encodings

    evaluator, _ = task.evaluator(data, config, "test", capped=False)
    evaluator.write_predictions = True
    evaluator.predictions_file = "predictions.jsonl"
    scores: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory() as out, full_size_encodings(model):
        for dim in DIMS:
            evaluator.truncate_dim = None if dim == DIMS[0] else dim
            metrics = evaluator(model, output_path=out)
            lines = (Path(out) / "predictions_cosine.jsonl").read_text(encoding="utf-8").splitlines()
            predictions = {p["query_id"]: [r["corpus_id"] for r in p["results"]] for p in map(json.loads, lines)}
            scores[dim] = [_ndcg10(predictions[q], evaluator.relevant_docs[q]) for q in evaluator.queries_ids]
            mean = sum(scores[dim]) / len(scores[dim])
            if abs(mean - metrics["test_cosine_ndcg@10"]) > 1e-6:
                raise AssertionError(f"per-query NDCG@10 mean {mean} differs from the evaluator's {metrics}")
    return scores


def _ndcg10(ranked: list[str], relevant: set[str]) -> float:
    """NDCG@10 with binary relevance, as the InformationRetrievalEvaluator computes it."""
    dcg = sum(1 / math.log2(i + 2) for i, cid in enumerate(ranked[:10]) if cid in relevant)  # ranked best first
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def unlabelled_positive_share(dataset: Any) -> str:
    """How many mined negatives BioASQ lists as relevant to the question (the workload hid them)."""
    corpus = {r["id"]: r["text"] for r in map(json.loads, (SOURCE / "corpus.jsonl").read_text().splitlines())}
    relevant = {
        r["query"]: {corpus[i] for i in r["relevant_ids"] if i in corpus}
        for r in map(json.loads, (SOURCE / "train.jsonl").read_text().splitlines())
    }
    columns = [c for c in dataset.column_names if c.startswith("negative")]
    total = hits = 0
    for row in dataset:
        for column in columns:
            total += 1
            hits += row[column] in relevant.get(row["anchor"], set())
    return f"{hits} of {total} ({hits / total:.1%})" if total else "-"


def cache_timing(workdir: Path, data_dir: Path, workload: Workload) -> None:
    """Cold and warm mining of the same settings by two workers (two run caches) on one disk cache."""
    from hpo.training.run_cache import RunCache
    from objectives.registry import get_task

    raw = _config(data_dir, workload, "hard-negatives", 1)
    config = parse_config(raw, source="cache timing")
    task = get_task("retrieval")
    data = task.load_data(config)
    base = config.search_space.resolve(
        {"learning_rate": 1e-4, "batch_size": 32, "warmup_ratio": 0.1, "hard_negatives.miner": "bm25"}
        | {f"hard_negatives.{k}": v for k, v in TIMED.items()}
    )
    print("mining cache, the same settings mined by a first and a second worker:")
    for miner in ("bm25", "dense"):
        settings = HardNegatives(miner=miner, miner_model=base.model if miner == "dense" else None, **TIMED)
        params = base.model_copy(update={"hard_negatives": settings})
        seconds = []
        for _ in range(2):
            cache = RunCache(task, data, config, mined=MinedCache(workdir / "timing-cache"))
            _, record = cache.mined_train_dataset(params, "cpu", "fp32")
            seconds.append((record.seconds, record.cache))
        (cold, cold_use), (warm, warm_use) = seconds
        print(f"  {miner:<5} first {cold:7.2f} s ({cold_use}), second {warm:6.3f} s ({warm_use}): {warm / cold:.1%}")


def replay(workdir: Path, data_dir: Path, workload: Workload, best: TrainingParams) -> None:
    """The in-batch best's hyperparameters retrained with each mining setting of REPLAY: dev and test NDCG@10."""
    raw = _config(data_dir, workload, "hard-negatives", 1)
    config = parse_config(raw, source="replay")
    print(f"replay: the in-batch best (lr {best.learning_rate:.2e}, batch {best.batch_size}) with mined negatives")
    shutil.rmtree(workdir / "replay-cache", ignore_errors=True)
    per_query_ref, _, _ = retrain_and_test(config, best, workdir / "replay-cache")
    reference = sum(per_query_ref) / len(per_query_ref)
    print(f"  {'in-batch only':<58} test {reference:.4f}")
    for mining in REPLAY:
        settings = HardNegatives.model_validate(
            {**mining, "miner_model": best.model if mining["miner"] == "dense" else None}
        )
        params = best.model_copy(update={"hard_negatives": settings})
        per_query, _, false_negatives = retrain_and_test(config, params, workdir / "replay-cache")
        versus = paired_bootstrap(per_query, per_query_ref, seed=0).describe()
        label = ", ".join(f"{k}={v}" for k, v in mining.items())
        print(
            f"  {label:<58} test {sum(per_query) / len(per_query):.4f} {versus}; unlabelled positives {false_negatives}"
        )


def _describe_trial(trial: Any) -> str:
    mining = {k.removeprefix("hard_negatives."): v for k, v in trial.params.items() if k.startswith("hard_negatives.")}
    shown = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in mining.items())
    pairs = trial.user_attrs.get(attrs.MINED_PAIRS, {})
    return (
        f"trial {trial.number}: dev {trial.value:.4f}, lr {trial.params['learning_rate']:.2e}, "
        f"batch {trial.params['batch_size']}; {shown}; trained pairs {pairs.get('trained')}, "
        f"too few negatives {pairs.get('no_negatives')}; mining {trial.user_attrs.get(attrs.MINING_SECONDS)} s "
        f"({trial.user_attrs.get(attrs.MINING_CACHE)})"
    )


def _jsonable(result: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.to_dict() if isinstance(v, TrainingParams) else v) for k, v in result.items()}


if __name__ == "__main__":
    main()
