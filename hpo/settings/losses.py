"""A loss a config may name: its keyword parameters and how to build it.

Each task lists its losses as :class:`LossSpec` values (a fixed registry): a config names one of
them, never an importable path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn

LossBuilder = Callable[["SentenceTransformer", Mapping[str, Any]], "nn.Module"]


@dataclass(frozen=True)
class LossSpec:
    """A loss: the types (and lower bounds) of the keyword parameters a search space may set, and its builder.

    ``negatives`` says which negative columns it takes: ``"any"`` (none or several, after the
    positive) or ``"one"`` (exactly one: mined negatives then make one row each, and the loss
    cannot train without them).
    """

    name: str
    params: Mapping[str, type]
    build: LossBuilder
    at_least: Mapping[str, float] = field(default_factory=dict)  # lower bounds checked before a study starts
    negatives: Literal["any", "one"] = "any"


def sentence_transformers_loss(class_name: str, **fixed: Any) -> LossBuilder:
    """A builder of sentence-transformers' loss ``class_name``, with ``fixed`` keyword arguments added."""

    def build(model: SentenceTransformer, params: Mapping[str, Any]) -> nn.Module:
        from sentence_transformers.sentence_transformer import losses

        loss: nn.Module = getattr(losses, class_name)(model, **fixed, **params)
        return loss

    return build
