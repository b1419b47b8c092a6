from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer

from hpo.training.token_cache import TokenCache
from hpo.training.token_table import TokenTable, tokenizer_fingerprint

TEXTS = ["a short one", "a much longer text with quite a few more words in it than the first", "mid length", ""]


@pytest.fixture(scope="module")
def model(tiny_model: str) -> SentenceTransformer:
    return SentenceTransformer(tiny_model, device="cpu")


def _table(model: SentenceTransformer, texts: list[str]) -> TokenTable:
    table = TokenTable.build(texts, model.preprocess, TokenCache.pad_values(model) or {}, chunk=2)
    assert table is not None
    return table


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    return all(
        torch.equal(a[k], b[k]) and a[k].dtype == b[k].dtype if isinstance(a[k], torch.Tensor) else a[k] == b[k]
        for k in a
    )


@pytest.mark.parametrize("batch", [[0, 1, 2, 3], [2, 0], [1], [3, 3, 0]])
def test_batches_equal_the_tokenizer_output(model: SentenceTransformer, batch: list[int]) -> None:
    table = _table(model, [*TEXTS, TEXTS[0]])  # a duplicate is stored once
    assert len(table) == len(TEXTS)
    texts = [TEXTS[i] for i in batch]
    rows = table.rows(texts)
    assert rows == batch
    assert _same(table.batch(rows), model.preprocess(texts))


def test_truncation_follows_max_seq_length(tiny_model: str) -> None:
    short = SentenceTransformer(tiny_model, device="cpu")
    short.max_seq_length = 6
    table = _table(short, TEXTS)
    assert _same(table.batch(table.rows(TEXTS) or []), short.preprocess(TEXTS))
    assert table.batch([1])["input_ids"].shape == (1, 6)


def test_an_unknown_text_is_not_served(model: SentenceTransformer) -> None:
    assert _table(model, TEXTS).rows([TEXTS[0], "never seen"]) is None


def test_saved_and_loaded_tables_serve_the_same_batches(model: SentenceTransformer, tmp_path: Path) -> None:
    table = _table(model, TEXTS)
    table.save(tmp_path / "t")
    loaded = TokenTable.load(tmp_path / "t")
    assert loaded.texts == table.texts
    assert _same(loaded.batch([1, 0]), table.batch([1, 0]))
    assert loaded.features["attention_mask"].dtype.itemsize == 1  # stored in the smallest type


def test_a_model_copy_serves_table_texts_without_tokenizing(tiny_model: str) -> None:
    plain = SentenceTransformer(tiny_model, device="cpu")
    cached = SentenceTransformer(tiny_model, device="cpu")
    tokens = TokenCache()
    tokens.install(cached)
    tokens.add_table(cached.max_seq_length, _table(plain, TEXTS))
    assert _same(cached.preprocess(TEXTS[:3]), plain.preprocess(TEXTS[:3]))
    assert (tokens.misses, tokens.hits) == (0, 3)
    assert torch.allclose(torch.as_tensor(cached.encode(TEXTS)), torch.as_tensor(plain.encode(TEXTS)))
    cached.max_seq_length = plain.max_seq_length = 7  # no table for this length: the per-text cache tokenizes
    assert _same(cached.preprocess(TEXTS[1:2]), plain.preprocess(TEXTS[1:2]))
    assert tokens.misses == 1


def test_tokenizer_fingerprint_names_the_tokenizer_not_the_weights(tiny_model: str, tmp_path: Path) -> None:
    a = SentenceTransformer(tiny_model, device="cpu")
    b = SentenceTransformer(tiny_model, device="cpu")
    with torch.no_grad():
        next(b.parameters()).add_(1.0)
    assert tokenizer_fingerprint(a) == tokenizer_fingerprint(b)
    b.tokenizer.add_tokens(["brandnewtoken"])
    assert tokenizer_fingerprint(a) != tokenizer_fingerprint(b)


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        ("short arrays", "feature input_ids holds 12 tokens, the offsets say 36"),
        ("short offsets", "offsets of shape (1,) do not index 4 texts"),
        ("other format", "token table format 0, expected 1"),
    ],
)
def test_a_table_whose_files_disagree_is_refused(
    model: SentenceTransformer, tmp_path: Path, damage: str, error: str
) -> None:
    """The checks behind the cache's manifest: a table that loads but would pad rows from other texts."""
    import json

    import numpy as np

    from tests.cache_faults import shorten_arrays

    folder = tmp_path / "t"
    table = _table(model, TEXTS)
    table.save(folder)
    if damage == "short arrays":
        with np.load(folder / "tokens.npz") as arrays:
            kept = {name: arrays[name] for name in arrays.files}
        shorten_arrays(folder / "tokens.npz")
        with np.load(folder / "tokens.npz") as arrays:
            np.savez(folder / "tokens.npz", **{**dict(arrays), "offsets": kept["offsets"]})
    elif damage == "short offsets":
        shorten_arrays(folder / "tokens.npz")
    else:
        meta = json.loads((folder / "tokens.json").read_text())
        (folder / "tokens.json").write_text(json.dumps({**meta, "format": 0}))
    where = folder / ("tokens.json" if damage == "other format" else "tokens.npz")
    with pytest.raises(ValueError) as caught:
        TokenTable.load(folder)
    assert str(caught.value) == f"{where}: {error}"
