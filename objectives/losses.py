"""Build a loss from the fixed registry in :mod:`objectives.registry`, never from an imported name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from torch import nn


def build_loss(model: SentenceTransformer, name: str, params: dict[str, Any]) -> nn.Module:
    """The loss ``name`` for ``model``; ``params`` were validated against the registry."""
    from sentence_transformers.sentence_transformer import losses

    if name == "MultipleNegativesRankingLoss":
        return losses.MultipleNegativesRankingLoss(model, **params)
    if name == "CachedMultipleNegativesRankingLoss":
        return losses.CachedMultipleNegativesRankingLoss(model, **params)
    if name == "MultipleNegativesSymmetricRankingLoss":
        # The standalone class is deprecated in sentence-transformers 6; this is its documented equivalent.
        return losses.MultipleNegativesRankingLoss(
            model, directions=("query_to_doc", "doc_to_query"), partition_mode="per_direction", **params
        )
    if name == "OnlineContrastiveLoss":
        return losses.OnlineContrastiveLoss(model, **params)
    if name == "ContrastiveLoss":
        return losses.ContrastiveLoss(model, **params)
    raise KeyError(f"loss '{name}' is not in the registry")
