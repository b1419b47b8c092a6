"""Intermediate evaluation on the capped corpus against the full one: cost and trial ranking.

    python benchmarks/eval_cost.py [--workdir eval-cost]

Fine-tunes all-MiniLM-L6-v2 on the workload of bioasq_bench.py with a fixed grid of learning
rates and batch sizes (plus the untrained base model), each with hpo's own training run, and scores
every model on dev with the capped corpus (500 passages) and the full one (2,500). Prints the
seconds per evaluation of each, their ratio, and the Spearman rank correlation of the models
between the two scores: whether the capped corpus orders trials as the full one does.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bioasq_bench import MODEL, spearman, study_config, write_subset

GRID = [(5e-6, 32), (2e-5, 16), (5e-5, 32), (1e-4, 16), (2.5e-4, 32), (6e-4, 16)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("eval-cost"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve())

    from hpo.config import parse_config
    from hpo.data import load_data
    from objectives import load_objective
    from objectives.base import NullReporter
    from objectives.run_cache import RunCache
    from objectives.training import as_metrics, release, run_training

    raw = study_config(folder, evaluation={"every_samples": 256, "corpus_cap": 500, "final_corpus": "capped"})
    config = parse_config(raw, source="eval_cost")
    data = load_data(config)
    objective = load_objective("retrieval")
    cache = RunCache(objective, data, config)
    capped, capped_corpus = cache.evaluator("dev", capped=True)
    full, full_corpus = cache.evaluator("dev", capped=False)
    key = "dev_cosine_ndcg@10"

    def score(evaluator: Any, model: Any) -> tuple[float, float]:
        started = time.perf_counter()
        value = as_metrics(evaluator(model))[key]
        return value, time.perf_counter() - started

    base = cache.model(MODEL, "cpu", 128)
    rows = [_row("base model (untrained)", base, score, capped, full)]
    release(base)
    for lr, batch in GRID:
        params = config.search_space.resolve({"learning_rate": lr, "batch_size": batch, "warmup_ratio": 0.1})
        _, model = run_training(objective, params, data, config, NullReporter(), keep_model=True, cache=cache)
        rows.append(_row(f"lr {lr:.0e} batch {batch}", model, score, capped, full))
        release(model)

    print(f"\ncapped: {capped_corpus}\nfull:   {full_corpus}")
    print(f"{'model':28}{'capped':>9}{'full':>9}{'capped s':>10}{'full s':>9}")
    for name, c, f, cs, fs in rows:
        print(f"{name:28}{c:>9.4f}{f:>9.4f}{cs:>10.1f}{fs:>9.1f}")
    capped_s = statistics.median(r[3] for r in rows)
    full_s = statistics.median(r[4] for r in rows)
    rho = spearman([r[1] for r in rows], [r[2] for r in rows])
    ratio = full_s / capped_s
    print(f"median seconds per evaluation: capped {capped_s:.1f}, full {full_s:.1f}; full/capped {ratio:.2f}x")
    print(f"Spearman rank correlation of the {len(rows)} models, capped vs full NDCG@10: {rho:.3f}")


def _row(name: str, model: Any, score: Any, capped: Any, full: Any) -> tuple[str, float, float, float, float]:
    c, cs = score(capped, model)
    f, fs = score(full, model)
    return name, c, f, cs, fs


if __name__ == "__main__":
    main()
