"""Matryoshka embeddings: the loss that trains several embedding sizes at once, and an evaluator that
scores a model at each size.

A model trained with ``MatryoshkaLoss`` keeps most of its quality when its embeddings are cut to
their first ``d`` values, and a smaller index is cheaper to serve. :class:`MatryoshkaEvaluator`
wraps a task's evaluator: it encodes each text once at full size and scores every dimension from
those embeddings. Its metrics are the wrapped evaluator's at the configured dimension (the trial's
value), under their usual keys, plus every dimension's under ``<key>_dim<d>``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from hpo.training.disk_cache import Memo, no_memo

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn

    from hpo.settings.config import StudyConfig
    from hpo.training.task import Split, Task

_DIMENSION_KEY = re.compile(r"^(?P<key>.+)_dim(?P<dim>[0-9]+)$")
_ENCODERS = ("encode", "encode_query", "encode_document")
_SPEED_ONLY = frozenset({"batch_size", "show_progress_bar", "truncate_dim"})


def dimension_key(key: str, dim: int) -> str:
    """The key of metric ``key`` at embedding dimension ``dim``."""
    return f"{key}_dim{dim}"


def metrics_by_dimension(metrics: Mapping[str, float]) -> dict[int, dict[str, float]]:
    """The per-dimension metrics of a Matryoshka evaluation, largest dimension first ({} for others)."""
    found: dict[int, dict[str, float]] = {}
    for key, value in metrics.items():
        match = _DIMENSION_KEY.match(key)
        if match:
            found.setdefault(int(match["dim"]), {})[match["key"]] = value
    return dict(sorted(found.items(), reverse=True))


def dimension_values(metrics: Mapping[str, float], metric_key: str) -> dict[int, float]:
    """``metric_key`` (e.g. ``dev_cosine_ndcg@10``) at each evaluated dimension, largest first."""
    return {dim: values[metric_key] for dim, values in metrics_by_dimension(metrics).items() if metric_key in values}


def matryoshka_loss(model: SentenceTransformer, loss: nn.Module, dims: Sequence[int], where: str) -> nn.Module:
    """``loss`` applied at the model's full dimension and at each of ``dims`` (``where`` names the model in errors)."""
    from sentence_transformers.sentence_transformer.losses import MatryoshkaLoss

    from hpo.errors import TrialError

    full = model.get_embedding_dimension()
    if full is not None and dims and dims[0] > full:
        raise TrialError(f"matryoshka_dims: {dims[0]} exceeds the embedding dimension of {where} ({full})")
    sizes = sorted({*dims, *([full] if full else [])}, reverse=True)
    wrapped: nn.Module = MatryoshkaLoss(model, loss, sizes)
    return wrapped


class MatryoshkaEvaluator:
    """A task's evaluator, scored at the model's full dimension and at each of ``dims``.

    ``value_dim`` (None: the full dimension) is the dimension whose metrics come back under the
    wrapped evaluator's own keys. Dimensions above the model's are skipped.
    """

    def __init__(self, inner: Any, dims: Sequence[int], value_dim: int | None) -> None:
        if not hasattr(inner, "truncate_dim"):
            raise TypeError(f"{type(inner).__name__} cannot truncate embeddings (it has no truncate_dim)")
        self.inner = inner
        self.dims = tuple(dims)
        self.value_dim = value_dim

    def __call__(self, model: SentenceTransformer, *args: Any, **kwargs: Any) -> dict[str, float]:
        from hpo.errors import TrialError

        full = int(model.get_embedding_dimension() or 0)
        value_dim = self.value_dim or full
        if value_dim > full:
            raise TrialError(f"evaluation.matryoshka_dim: {value_dim} exceeds the model's embedding dimension ({full})")
        dims = sorted({full, value_dim, *(d for d in self.dims if d <= full)}, reverse=True)
        results: dict[int, dict[str, float]] = {}
        with full_size_encodings(model):
            try:
                for dim in dims:
                    self.inner.truncate_dim = None if dim == full else dim
                    results[dim] = dict(self.inner(model, *args, **kwargs))
            finally:
                self.inner.truncate_dim = None
        per_dimension = {dimension_key(k, dim): v for dim, values in results.items() for k, v in values.items()}
        return {**results[value_dim], **per_dimension}


@contextmanager
def full_size_encodings(model: SentenceTransformer) -> Iterator[None]:
    """While entered, each encode call with the same texts and options is computed once at full size;
    a call asking for ``truncate_dim`` gets the first columns of that (renormalized if it asked for
    normalized embeddings), as sentence-transformers itself truncates. Only valid while the
    weights do not change."""
    memo: dict[tuple[str, tuple[Any, ...], str], Any] = {}
    previous = {name: model.__dict__.get(name) for name in _ENCODERS}
    for name in _ENCODERS:
        setattr(model, name, _remembering(getattr(model, name), name, memo))
    try:
        yield
    finally:
        for name, attribute in previous.items():
            if attribute is None:
                delattr(model, name)  # the class's method shows again
            else:
                setattr(model, name, attribute)  # another wrapper (e.g. a document memo) was installed


def _remembering(encode: Callable[..., Any], name: str, memo: dict[tuple[str, tuple[Any, ...], str], Any]) -> Any:
    def call(inputs: Any, **kwargs: Any) -> Any:
        dim = kwargs.get("truncate_dim")
        texts = isinstance(inputs, Sequence) and not isinstance(inputs, str) and all(isinstance(t, str) for t in inputs)
        if not texts:
            return encode(inputs, **kwargs)
        options = repr(sorted((k, v) for k, v in kwargs.items() if k not in _SPEED_ONLY))
        key = (name, tuple(inputs), options)
        if key not in memo:
            memo[key] = encode(inputs, **{**kwargs, "truncate_dim": None})
        return _truncated(memo[key], dim, bool(kwargs.get("normalize_embeddings")))

    return call


def _truncated(embeddings: Any, dim: int | None, normalize: bool) -> Any:
    import numpy as np
    import torch

    if dim is None:
        return embeddings
    if isinstance(embeddings, torch.Tensor):
        cut = embeddings[..., :dim]
        return torch.nn.functional.normalize(cut, p=2, dim=-1) if normalize else cut
    if isinstance(embeddings, np.ndarray):
        cut_array = embeddings[..., :dim]
        return cut_array / np.linalg.norm(cut_array, axis=-1, keepdims=True) if normalize else cut_array
    return [_truncated(row, dim, normalize) for row in embeddings]  # a list of per-text embeddings


def evaluator_for(
    task: Task[Any], data: Any, config: StudyConfig, split: Split, capped: bool, memo: Memo = no_memo
) -> tuple[Any, str]:
    """The task's evaluator on ``split``, scoring every Matryoshka dimension when the config has any."""
    evaluator, corpus = task.evaluator(data, config, split, capped=capped, memo=memo)
    dims = config.search_space.dimension_candidates()
    if not dims and config.evaluation.matryoshka_dim is None:
        return evaluator, corpus
    return MatryoshkaEvaluator(evaluator, dims, config.evaluation.matryoshka_dim), corpus
