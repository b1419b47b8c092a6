"""The training data path alone, side by side: how fast batches reach the model, without a model step.

    python -m benchmarks.data_path [--pairs 0] [--batch-size 128] [--max-seq-length 256] [--workers 2]

Every (question, relevant passage) pair of ../shared/data/bioasq's train split (14,986 pairs; 0 =
all), the all-MiniLM-L6-v2 tokenizer, NO_DUPLICATES batches, through the real Trainer's data
loader (``trainer.get_train_dataloader()``), one epoch per variant:

- ``bare``: sentence-transformers' NO_DUPLICATES sampler and collator (tokenizes every batch),
  with 0 and with ``--workers`` data-loader processes (the bare trainer's best GPU setting used 4);
- ``hpo before``: the stock sampler with hpo's per-process token cache, warm (its second epoch);
- ``hpo``: the indexed NO_DUPLICATES sampler and the pre-tokenized token table (what trials use),
  with 0 and with ``--workers`` processes.

A GPU step of MiniLM at batch 128 and 256 tokens took about 48 ms on an H200 (2,649 samples/s
with the bare trainer's best setting): a data path far above that rate never makes the GPU wait.
The sampler's own pass and the one-time table build and load are timed too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from benchmarks.bioasq_bench import MODEL, SOURCE


def pairs(limit: int) -> list[tuple[str, str]]:
    corpus = {}
    with (SOURCE / "corpus.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            corpus[row["id"]] = row["text"]
    with (SOURCE / "train.jsonl").open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    found = [(r["query"], corpus[d]) for r in rows for d in r["relevant_ids"]]
    return found[:limit] if limit else found


def loader_rate(model: Any, dataset: Any, batch_size: int, sampler: Any, workers: int, epochs: int = 1) -> float:
    """Samples/s of the Trainer's train loader over its last epoch (earlier ones warm caches up)."""
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    with tempfile.TemporaryDirectory() as output:
        args = SentenceTransformerTrainingArguments(
            output_dir=output,
            per_device_train_batch_size=batch_size,
            batch_sampler=sampler,
            dataloader_num_workers=workers,
            dataloader_pin_memory=False,
            use_cpu=True,
            report_to="none",
            seed=42,
            data_seed=42,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=args, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
        )
        loader = trainer.get_train_dataloader()
        for epoch in range(epochs):
            cast(Any, loader).set_epoch(epoch)  # accelerate's prepared loader has it
            started = time.perf_counter()
            samples = sum(len(batch["anchor_input_ids"]) for batch in loader)
            seconds = time.perf_counter() - started
    return samples / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=0, help="training pairs (0 = every pair)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2, help="data-loader processes of the worker variants")
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

    from hpo.training.data_path import batch_sampler
    from hpo.training.models import resolve_model_path
    from hpo.training.token_cache import TokenCache
    from hpo.training.token_table import TokenTable

    torch.set_num_threads(1)  # the data path runs beside training: one core's worth is what it gets
    found = pairs(args.pairs)
    dataset = Dataset.from_dict({"anchor": [q for q, _ in found], "positive": [p for _, p in found]})

    def load() -> Any:
        model = SentenceTransformer(resolve_model_path(MODEL), device="cpu")
        model.max_seq_length = args.max_seq_length
        return model

    results: dict[str, float] = {}
    for name, sampler_class in (("stock", NoDuplicatesBatchSampler), ("indexed", batch_sampler("no_duplicates"))):
        sampler = sampler_class(dataset, args.batch_size, False, generator=torch.Generator(), seed=42)
        started = time.perf_counter()
        batches = len(list(sampler))
        results[f"sampler pass, {name} (s)"] = time.perf_counter() - started
    print(f"{len(found)} pairs, batch {args.batch_size}, {batches} batches, max_seq_length {args.max_seq_length}")

    results["bare, 0 workers"] = loader_rate(load(), dataset, args.batch_size, "no_duplicates", 0)
    bare = loader_rate(load(), dataset, args.batch_size, "no_duplicates", args.workers)
    results[f"bare, {args.workers} workers"] = bare

    before = load()
    TokenCache().install(before)
    results["hpo before (token cache, warm)"] = loader_rate(before, dataset, args.batch_size, "no_duplicates", 0, 2)

    model = load()
    texts = [*dataset["anchor"], *dataset["positive"]]
    started = time.perf_counter()
    table = TokenTable.build(texts, model.preprocess, TokenCache.pad_values(model) or {})
    results["token table build, once per study (s)"] = time.perf_counter() - started
    assert table is not None
    with tempfile.TemporaryDirectory() as folder:
        table.save(Path(folder))
        started = time.perf_counter()
        table = TokenTable.load(Path(folder))
        results["token table load, once per worker (s)"] = time.perf_counter() - started
    tokens = TokenCache()
    tokens.install(model)
    tokens.add_table(model.max_seq_length, table)
    results["hpo (indexed sampler + token table), 0 workers"] = loader_rate(
        model, dataset, args.batch_size, batch_sampler("no_duplicates"), 0
    )
    results[f"hpo (indexed sampler + token table), {args.workers} workers"] = loader_rate(
        model, dataset, args.batch_size, batch_sampler("no_duplicates"), args.workers
    )

    reference = results["bare, 0 workers"]
    print(f"\n{'data path':52}{'samples/s':>12}{'vs bare 0 workers':>20}")
    for label, value in results.items():
        if label.endswith("(s)"):
            print(f"{label:52}{value:>11.3f}s")
        else:
            print(f"{label:52}{value:>12,.0f}{value / reference:>19.1f}x")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
