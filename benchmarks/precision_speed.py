"""bf16 against fp32 on this machine: a bare trainer's training time and encoding time, side by side.

    python benchmarks/precision_speed.py [--pairs 128] [--passages 500] [--repeats 2]

all-MiniLM-L6-v2 (max_seq_length 128) on the BioASQ workload of bioasq_bench.py: a plain
SentenceTransformerTrainer with MultipleNegativesRankingLoss (batch 16, one epoch) on the first
training pairs, and ``encode_document`` of the first corpus passages, each in fp32 and under bf16
autocast, alternating. Prints seconds, the training loss, and the smallest cosine between a
passage's bf16 and fp32 embeddings. What hpo picks on this machine is printed too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bioasq_bench import MODEL, write_subset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--passages", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from hpo.training.models import resolve_model_path
    from hpo.training.precision import best_precision

    with tempfile.TemporaryDirectory() as folder:
        data = write_subset(Path(folder) / "data")
        rows = [json.loads(line) for line in (data / "train.jsonl").open()][: args.pairs]
        passages = [json.loads(line)["text"] for line in (data / "corpus.jsonl").open()][: args.passages]
    pairs = Dataset.from_dict({"anchor": [r["query"] for r in rows], "positive": [r["positive"] for r in rows]})
    path = resolve_model_path(MODEL)

    def model() -> Any:
        loaded = SentenceTransformer(path, device="cpu")
        loaded.max_seq_length = 128
        return loaded

    def train(bf16: bool) -> tuple[float, float]:
        m = model()
        settings: dict[str, Any] = {
            "per_device_train_batch_size": 16,
            "num_train_epochs": 1,
            "learning_rate": 5e-5,
            "seed": 1,
        }
        with tempfile.TemporaryDirectory() as output:
            arguments = SentenceTransformerTrainingArguments(
                output_dir=output,
                use_cpu=True,
                bf16=bf16,
                report_to="none",
                save_strategy="no",
                disable_tqdm=True,
                **settings,
            )
            trainer = SentenceTransformerTrainer(
                model=m, args=arguments, train_dataset=pairs, loss=MultipleNegativesRankingLoss(m)
            )
            started = time.perf_counter()
            loss = trainer.train().training_loss
            return time.perf_counter() - started, loss

    encoder = model()
    encoder.encode_document(passages[:32])  # warm-up

    def encode(bf16: bool) -> tuple[float, Any]:
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            rows = encoder.encode_document(passages, batch_size=32, convert_to_tensor=True)
        return time.perf_counter() - started, rows.float()

    results: dict[str, dict[str, list[float]]] = {"fp32": {}, "bf16": {}}
    embeddings: dict[str, Any] = {}
    for _ in range(args.repeats):
        for name in ("fp32", "bf16"):
            seconds, loss = train(name == "bf16")
            encode_seconds, embeddings[name] = encode(name == "bf16")
            results[name].setdefault("train", []).append(seconds)
            results[name].setdefault("loss", []).append(loss)
            results[name].setdefault("encode", []).append(encode_seconds)

    def best(name: str, key: str) -> float:
        return min(results[name][key])

    cosine = torch.nn.functional.cosine_similarity(embeddings["fp32"], embeddings["bf16"]).min().item()
    print(f"\nhpo's precision on this machine: {best_precision('cpu')}")
    print(f"{'':36}{'fp32':>10}{'bf16':>10}{'fp32/bf16':>12}")
    rows_printed = ((f"train {args.pairs} pairs (s, best)", "train"), (f"encode {args.passages} passages", "encode"))
    for label, key in rows_printed:
        fp32, bf16 = best("fp32", key), best("bf16", key)
        print(f"{label:36}{fp32:>10.2f}{bf16:>10.2f}{fp32 / bf16:>12.2f}x")
    print(f"{'training loss':36}{results['fp32']['loss'][0]:>10.4f}{results['bf16']['loss'][0]:>10.4f}")
    print(f"smallest cosine between a passage's bf16 and fp32 embeddings: {cosine:.6f}")


if __name__ == "__main__":
    main()
