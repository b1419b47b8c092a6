"""Tokenize each text once per process: later batches of the same texts are only padded.

Every trial of a study trains on the same pairs and encodes the same evaluation corpus several
times; without this, each of those passes tokenizes every text again. Texts of a
:class:`~hpo.training.token_table.TokenTable` given for the model's ``max_seq_length`` (built once
per study, read from the disk cache) are not tokenized at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from hpo.training.token_table import TokenTable

logger = logging.getLogger(__name__)
_KWARGS = frozenset({"task", "max_length"})
CacheKey = tuple[str, Any, Any, Any]


class TokenCache:
    """Per-text tokenizer output shared by every copy of one base model.

    :meth:`install` wraps a model's ``preprocess`` (what both ``encode`` and the trainer's data
    collator call). Plain-text batches without a prompt take the cached path; anything else
    (pairs, images, prompts, left padding) goes to the model's own ``preprocess`` unchanged.
    """

    def __init__(self, max_texts: int = 100_000) -> None:
        self.max_texts = max_texts  # bounds memory: about 3 KB per text at 128 tokens
        self._rows: dict[CacheKey, dict[str, torch.Tensor]] = {}
        self._extras: dict[str, Any] = {}
        self._pad_values: dict[str, int] = {}
        self.hits = 0
        self.misses = 0
        self.enabled = True
        self.tables: dict[int | None, TokenTable] = {}  # by max_seq_length

    def add_table(self, max_seq_length: int | None, table: TokenTable) -> None:
        """Serve the texts of ``table`` from it for copies of the model with this ``max_seq_length``."""
        self.tables[max_seq_length] = table

    def install(self, model: SentenceTransformer) -> None:
        original = model.preprocess
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is None or getattr(tokenizer, "padding_side", "right") != "right":
            return
        self._pad_values = self.pad_values(model) or {}
        # Only a plain Transformer first module ignores ``task`` when there is no prompt (a Router does not).
        tables_apply = type(model[0]).__name__ == "Transformer"

        def preprocess(inputs: Sequence[Any], prompt: str | None = None, **kwargs: Any) -> dict[str, Any]:
            plain_text = bool(inputs) and all(isinstance(x, str) for x in inputs)
            if not self.enabled or prompt or not set(kwargs) <= _KWARGS or not plain_text:
                return original(inputs, prompt=prompt, **kwargs)
            table = self.tables.get(model.max_seq_length) if tables_apply else None
            if table is not None and kwargs.get("max_length") is None:
                rows = table.rows(inputs)
                if rows is not None:
                    self.hits += len(rows)
                    return table.batch(rows)
            context = (kwargs.get("task"), kwargs.get("max_length"), model.max_seq_length)
            return self._batch(list(inputs), context, lambda texts: original(texts, **kwargs))

        model.preprocess = preprocess  # type: ignore[method-assign]

    @staticmethod
    def pad_values(model: SentenceTransformer) -> dict[str, int] | None:
        """The value each feature is padded with, or None when the model's tokenizer pads on the left."""
        tokenizer = getattr(model, "tokenizer", None)
        if tokenizer is None or getattr(tokenizer, "padding_side", "right") != "right":
            return None
        return {"input_ids": int(tokenizer.pad_token_id or 0)}

    def _batch(
        self, texts: list[str], context: tuple[Any, Any, Any], tokenize: Callable[[list[str]], dict[str, Any]]
    ) -> dict[str, Any]:
        import torch

        keys = [(text, *context) for text in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._rows))
        if missing and len(self._rows) + len(missing) > self.max_texts:
            self.misses += len(keys)
            return tokenize(texts)  # full: new texts are tokenized as if there were no cache
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if missing:
            features = tokenize([k[0] for k in missing])
            if "attention_mask" not in features:  # cannot tell padding from tokens: stay out of the way
                self.enabled = False
                return features if len(missing) == len(keys) else tokenize(texts)
            self._store(missing, features)
        rows = [self._rows[k] for k in keys]
        width = max(int(row["attention_mask"].shape[0]) for row in rows)
        batch: dict[str, Any] = dict(self._extras)
        for name in rows[0]:
            padded = torch.full((len(rows), width), self._pad_values.get(name, 0), dtype=rows[0][name].dtype)
            for i, row in enumerate(rows):
                padded[i, : row[name].shape[0]] = row[name]
            batch[name] = padded
        return batch

    def _store(self, keys: list[CacheKey], features: dict[str, Any]) -> None:
        import torch

        lengths = features["attention_mask"].sum(dim=1).tolist()
        tensors = {k: v for k, v in features.items() if isinstance(v, torch.Tensor) and v.dim() == 2}
        self._extras = {k: v for k, v in features.items() if k not in tensors}
        for i, key in enumerate(keys):
            self._rows[key] = {name: value[i, : int(lengths[i])].clone() for name, value in tensors.items()}
