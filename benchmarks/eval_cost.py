"""Intermediate evaluation on capped corpora against the full one: cost and trial ranking.

    python benchmarks/eval_cost.py [--corpus 2500] [--workdir eval-cost]

Fine-tunes all-MiniLM-L6-v2 on the workload of bioasq_bench.py with a fixed grid of learning
rates and batch sizes (plus the untrained base model), each with hpo's own training run, and scores
every model on dev with the full corpus (2,500 passages) and with several capped corpora: the one
hpo builds by default (500 passages, BM25 distractors), random distractors, the base model's own
nearest passages ("dense"), and other sizes. Each evaluation is timed as it runs. Prints the
seconds per evaluation, the full/capped cost ratio, and the Spearman rank correlation of the
models between each capped score and the full score: whether that capped corpus orders trials as
the full one does. ``--corpus 18687`` makes the full corpus all of BioASQ's passages.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.bioasq_bench import MODEL, Workload, spearman, study_config, write_subset

GRID = [
    (5e-6, 32),
    (1e-5, 16),
    (2e-5, 16),
    (3e-5, 32),
    (5e-5, 32),
    (7e-5, 16),
    (1e-4, 16),
    (1.5e-4, 32),
    (2.5e-4, 32),
    (4e-4, 16),
    (6e-4, 16),
]
KEY = "dev_cosine_ndcg@10"


def dense_capped_ids(base_rows: Any, corpus_ids: list[str], queries: Any, split: Any, cap: int) -> set[str]:
    """Relevant passages plus each query's nearest passages under the base model, taken in turns."""
    from hpo.data.lexical import in_turns

    relevant = set().union(*split.relevant.values())
    scores = queries @ base_rows.T
    order = scores.argsort(dim=1, descending=True).tolist()
    rankings = [[corpus_ids[i] for i in row if corpus_ids[i] not in relevant] for row in order]
    chosen = set(relevant)
    for cid in in_turns(rankings):
        if len(chosen) >= cap:
            break
        chosen.add(cid)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=int, default=Workload.corpus, help="passages of the full corpus")
    parser.add_argument("--workdir", type=Path, default=Path("eval-cost"))
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    folder = write_subset(args.workdir.resolve(), Workload(corpus=args.corpus))

    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    from hpo.store.config_file import parse_config
    from hpo.training.models import best_device
    from hpo.training.precision import best_precision, inference_autocast
    from hpo.training.result import NullReporter
    from hpo.training.run import evaluate, release, train_model
    from hpo.training.run_cache import RunCache
    from objectives.registry import get_task

    raw = study_config(folder, evaluation={"every_samples": 256, "corpus_cap": 500, "final_corpus": "capped"})
    config = parse_config(raw, source="eval_cost")
    data = get_task(config.objective).load_data(config)
    objective = get_task("retrieval")
    cache = RunCache(objective, data, config)
    device = best_device()
    precision = best_precision(device, config.precision)
    # InformationRetrievalEvaluators: their corpus, settings and embedding helpers are read below.
    capped: Any
    full: Any
    capped, capped_corpus = cache.evaluator("dev", capped=True)
    full, full_corpus = cache.evaluator("dev", capped=False)
    dev = data.dev

    def subset_evaluator(ids: set[str]) -> Any:
        corpus = {cid: text for cid, text in data.corpus.items() if cid in ids}
        return InformationRetrievalEvaluator(
            queries=dict(dev.queries),
            corpus=corpus,
            relevant_docs={q: set(r) for q, r in dev.relevant.items()},
            # the same metrics and batch size as hpo's own evaluator, so the timings compare
            mrr_at_k=capped.mrr_at_k,
            ndcg_at_k=capped.ndcg_at_k,
            accuracy_at_k=capped.accuracy_at_k,
            precision_recall_at_k=capped.precision_recall_at_k,
            map_at_k=capped.map_at_k,
            batch_size=capped.batch_size,
            name="dev",
            write_csv=False,
            main_score_function="cosine",
        )

    variants: dict[str, Any] = {
        "bm25 500": capped,
        "random 500": subset_evaluator(set(data.capped_corpus(dev, 500, config.seed, "random"))),
        "bm25 400": subset_evaluator(set(data.capped_corpus(dev, 400, config.seed, "bm25"))),
        "bm25 1000": subset_evaluator(set(data.capped_corpus(dev, 1000, config.seed, "bm25"))),
    }
    rows: list[dict[str, Any]] = []

    def timed(evaluator: Any, model: Any) -> tuple[float, float]:
        started = time.perf_counter()
        value = evaluate(evaluator, model, device, precision)[KEY]
        return value, time.perf_counter() - started

    def score(name: str, model: Any) -> None:
        started = time.perf_counter()
        with inference_autocast(device, precision):
            passages = full.embed_inputs(model, full.corpus, encode_fn_name="document")
            row: dict[str, Any] = {"name": name, "full": full(model, corpus_embeddings=passages)[KEY]}
        row["full s"] = time.perf_counter() - started
        if not rows:  # the base model: its nearest passages make the "dense" corpora
            with inference_autocast(device, precision):
                queries = full.embed_inputs(model, full.queries, encode_fn_name="query")
            for cap in (500, 400):
                ids = dense_capped_ids(passages, full.corpus_ids, queries, dev, cap)
                variants[f"dense {cap}"] = subset_evaluator(ids)
        for label, evaluator in variants.items():
            row[label], row[f"{label} s"] = timed(evaluator, model)
        rows.append(row)
        print(f"{name}: full {row['full']:.4f} ({row['full s']:.1f} s), capped {row['bm25 500']:.4f}")

    base = cache.model(MODEL, device, 128)
    score("base model (untrained)", base)
    release(base)
    for lr, batch in GRID:
        params = config.search_space.resolve({"learning_rate": lr, "batch_size": batch, "warmup_ratio": 0.1})
        _, model = train_model(objective, params, data, config, NullReporter(), cache=cache)
        score(f"lr {lr:.1e} batch {batch}", model)
        release(model)

    print(f"\nhpo's capped corpus: {capped_corpus}\nfull: {full_corpus}; precision {precision}")
    print(f"{'model':26}{'full':>8}" + "".join(f"{label:>12}" for label in variants))
    for r in rows:
        print(f"{r['name']:26}{r['full']:>8.4f}" + "".join(f"{r[label]:>12.4f}" for label in variants))
    full_s = statistics.median(r["full s"] for r in rows)
    print(f"\n{'corpus':12}{'passages':>9}{'median s':>10}{'full/this':>11}{'Spearman':>10}{'mean gap':>10}")
    print(f"{'full':12}{len(full.corpus):>9}{full_s:>10.2f}")
    for label, evaluator in variants.items():
        seconds = statistics.median(r[f"{label} s"] for r in rows)
        rho = spearman([r[label] for r in rows], [r["full"] for r in rows])
        gap = statistics.mean(r[label] - r["full"] for r in rows)
        passages = len(evaluator.corpus)
        print(f"{label:12}{passages:>9}{seconds:>10.2f}{full_s / seconds:>10.2f}x{rho:>10.3f}{gap:>+10.4f}")
    print(f"({len(rows)} models; Spearman and mean gap of each capped score against the full score)")


if __name__ == "__main__":
    main()
