from __future__ import annotations

from typing import Any

import pytest
import torch
from sentence_transformers import SentenceTransformer

from hpo.training.token_cache import TokenCache

TEXTS = ["a short one", "a much longer text with quite a few more words in it than the first", "mid length text"]


@pytest.fixture
def models(tiny_model: str) -> tuple[SentenceTransformer, SentenceTransformer, TokenCache]:
    plain = SentenceTransformer(tiny_model, device="cpu")
    cached = SentenceTransformer(tiny_model, device="cpu")
    cache = TokenCache()
    cache.install(cached)
    return plain, cached, cache


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if set(a) != set(b):
        return False
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


def test_cached_batches_equal_the_tokenizer_output(models: tuple[Any, Any, TokenCache]) -> None:
    plain, cached, cache = models
    assert _same(cached.preprocess(TEXTS[:2]), plain.preprocess(TEXTS[:2]))
    mixed = [TEXTS[2], TEXTS[0], TEXTS[2]]  # one new text, one seen, one repeated
    assert _same(cached.preprocess(mixed), plain.preprocess(mixed))
    assert (cache.misses, cache.hits) == (3, 2)


def test_cache_key_includes_the_truncation_length(models: tuple[Any, Any, TokenCache]) -> None:
    plain, cached, _ = models
    cached.preprocess([TEXTS[1]])
    cached.max_seq_length = plain.max_seq_length = 5
    assert _same(cached.preprocess([TEXTS[1]]), plain.preprocess([TEXTS[1]]))
    assert cached.preprocess([TEXTS[1]])["input_ids"].shape[1] == 5


def test_prompts_and_non_text_bypass_the_cache(models: tuple[Any, Any, TokenCache]) -> None:
    plain, cached, cache = models
    assert _same(cached.preprocess(TEXTS, prompt="query: "), plain.preprocess(TEXTS, prompt="query: "))
    assert (cache.misses, cache.hits) == (0, 0)


def test_encode_through_the_cache_matches(models: tuple[Any, Any, TokenCache]) -> None:
    plain, cached, cache = models
    for _ in range(2):
        assert torch.allclose(
            torch.as_tensor(cached.encode(TEXTS, batch_size=2)), torch.as_tensor(plain.encode(TEXTS, batch_size=2))
        )
    assert cache.hits == len(TEXTS)


def test_a_full_cache_tokenizes_new_texts_without_storing_them(tiny_model: str) -> None:
    plain = SentenceTransformer(tiny_model, device="cpu")
    cached = SentenceTransformer(tiny_model, device="cpu")
    cache = TokenCache(max_texts=2)
    cache.install(cached)
    cached.preprocess(TEXTS[:2])
    assert _same(cached.preprocess(TEXTS), plain.preprocess(TEXTS))
    assert _same(cached.preprocess(TEXTS[:2]), plain.preprocess(TEXTS[:2]))
    assert cache.hits == 2
