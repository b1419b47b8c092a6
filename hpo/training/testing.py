"""What tests, CI checks and smoke benchmarks share: a tiny BERT sentence-transformer built on the
fly (64 hidden units, 2 layers, its own WordPiece vocabulary; builds in about a second, trains on a
CPU in seconds), a study config that runs with it, and a wait for a server to listen.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from hpo.data.demo import stdlib_docstring_rows


def build_tiny_model(directory: Path) -> Path:
    """Save a randomly initialised tiny model (with mean pooling) under ``directory``; return its path."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.manual_seed(0)
    texts = [text for row in stdlib_docstring_rows() for text in (row["query"], row["positive"])]
    texts += [f"question number {i} about topic {i % 17}" for i in range(2000)]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=2000, special_tokens=special))
    fast: Any = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    from tokenizers.processors import TemplateProcessing

    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    fast._tokenizer.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    config = BertConfig(
        vocab_size=fast.vocab_size,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=256,
    )
    bert_dir = directory / "bert"
    BertModel(config).save_pretrained(bert_dir)
    fast.save_pretrained(bert_dir)
    transformer = Transformer(str(bert_dir), max_seq_length=128)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")])
    path = directory / "tiny-model"
    model.save(str(path))
    return path


def tiny_study_config(model: str, **overrides: Any) -> dict[str, Any]:
    """A small, fast retrieval study on the built-in demo data, as a config mapping (seconds per trial)."""
    config: dict[str, Any] = {
        "study_name": "tiny-retrieval",
        "objective": "retrieval",
        "data": {
            "train": {"builtin": "stdlib-docstrings"},
            "columns": {"query_id": "query_id"},
            "max_train_samples": 96,
        },
        "search_space": {
            "model": model,
            "loss": {"MultipleNegativesRankingLoss": {"scale": {"type": "float", "low": 10.0, "high": 30.0}}},
            "learning_rate": {"type": "float", "low": 1.0e-5, "high": 1.0e-2, "log": True},
            "batch_size": 16,
            "epochs": 1,
            "max_seq_length": 48,
        },
        "evaluation": {"every_samples": 32, "corpus_cap": 60},
        "sampler": {"type": "random"},
        "pruner": {"type": "percentile", "percentile": 99.0, "n_startup_trials": 1},
        "budget": {"n_trials": 4},
    }
    config.update(overrides)
    return config


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    """Return once something listens on 127.0.0.1:``port``; RuntimeError if ``process`` died or time ran out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on port {port} (process exit code {process.poll()})") from None
            time.sleep(0.3)
