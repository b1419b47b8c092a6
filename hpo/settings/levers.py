"""The two quality levers beyond the usual hyperparameters, as settings and as searchable spaces.

Mined hard negatives (``hard_negatives``: the miner and which of its ranks become negatives,
Optuna names ``hard_negatives.<key>``, searched only when a miner is chosen) and Matryoshka
dimensions (``matryoshka_dims``: a list, or a choice of lists that Optuna sees as strings like
``"256,128"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from hpo.settings.params import FixedParam, Param, ParamField, Rule, check_rules, has_kind
from hpo.settings.schema import Strict

MINERS = ("none", "bm25", "dense")
SAMPLINGS = ("top", "random")
NO_DIMS = "none"  # the Optuna value of an empty choice of Matryoshka dimensions: no MatryoshkaLoss


class HardNegatives(Strict):
    """The mining settings of one run: which miner ranks the passages, and which ranks become negatives.

    They are the arguments of sentence-transformers' ``mine_hard_negatives``: a negative comes
    from ranks ``range_min`` (inclusive) to ``range_max`` (exclusive; null: derived from
    ``num_negatives`` as sentence-transformers does) of the miner's ranking, minus every passage
    known to be relevant; ``margin`` (absolute) and ``relative_margin`` (a share of the positive's
    score) drop candidates scored too close to the positive; ``sampling`` takes the best
    remaining ranks (``top``) or a seeded draw from them (``random``).
    """

    miner: Literal["bm25", "dense"]
    miner_model: str | None = None  # the dense miner's model; null: the run's base model
    num_negatives: int = Field(1, ge=1)
    range_min: int = Field(0, ge=0)
    range_max: int | None = Field(None, ge=1)
    margin: float | None = Field(None, ge=0)
    relative_margin: float | None = Field(None, ge=0, lt=1)
    sampling: Literal["top", "random"] = "top"

    @model_validator(mode="after")
    def _check(self) -> HardNegatives:
        if self.range_max is not None:
            _check_window(self.range_min, self.num_negatives, self.range_max)
        if self.miner_model is not None and self.miner != "dense":
            raise ValueError("miner_model applies only to the dense miner")
        return self


# hard_negatives key -> its rule, as for the search space's own fields
_MINING_RULES: dict[str, Rule] = {
    "miner": ("str", lambda v: v in MINERS, f"one of: {', '.join(MINERS)}"),
    "num_negatives": ("int", lambda v: v >= 1, "num_negatives >= 1"),
    "range_min": ("int", lambda v: v >= 0, "range_min >= 0"),
    "range_max": ("int?", lambda v: v is None or v >= 1, "range_max >= 1 or null"),
    "margin": ("float?", lambda v: v is None or v >= 0, "margin >= 0 or null"),
    "relative_margin": ("float?", lambda v: v is None or 0 <= v < 1, "0 <= relative_margin < 1 or null"),
    "sampling": ("str", lambda v: v in SAMPLINGS, f"one of: {', '.join(SAMPLINGS)}"),
}


class HardNegativesSpace(Strict):
    """``search_space.hard_negatives``: each mining setting fixed or searched (see :class:`HardNegatives`).

    The miner ``none`` trains on in-batch negatives only; the other settings are then not drawn.
    """

    miner: ParamField = FixedParam(value="none")
    miner_model: str | None = None
    num_negatives: ParamField = FixedParam(value=1)
    range_min: ParamField = FixedParam(value=0)
    range_max: ParamField = FixedParam(value=None)
    margin: ParamField = FixedParam(value=None)
    relative_margin: ParamField = FixedParam(value=None)
    sampling: ParamField = FixedParam(value="top")

    @model_validator(mode="after")
    def _check(self) -> HardNegativesSpace:
        check_rules(self, _MINING_RULES)
        range_max = [int(v) for v in self.range_max.values() if v is not None]
        if range_max:  # every combination a trial may draw must leave room for its negatives
            num = max(int(v) for v in self.num_negatives.values() if v is not None)
            low = max(int(v) for v in self.range_min.values() if v is not None)
            _check_window(low, num, min(range_max))
        if self.miner_model is not None and "dense" not in self.miner.values():
            raise ValueError("miner_model applies only to the dense miner, and miner is never 'dense'")
        return self

    def miners(self) -> list[str]:
        return [str(v) for v in self.miner.values()]

    def enabled(self) -> bool:
        """Whether any trial may mine negatives."""
        return any(m != "none" for m in self.miners())

    def settings(self) -> dict[str, Param]:
        """The drawn settings (every key but miner and miner_model), by key."""
        return {name: getattr(self, name) for name in _MINING_RULES if name != "miner"}


def _check_window(range_min: int, num_negatives: int, range_max: int) -> None:
    if range_min + num_negatives > range_max:
        raise ValueError(
            f"range_max ({range_max}) is below range_min ({range_min}) + num_negatives ({num_negatives}): "
            "the window of ranks must hold every negative"
        )


class DimsChoice(Strict):
    """Matryoshka dimension lists searched as a choice (``[]``: no MatryoshkaLoss)."""

    type: Literal["categorical"]
    choices: list[list[int]] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check(self) -> DimsChoice:
        for dims in self.choices:
            check_dims(dims, "choices")
        return self

    def labels(self) -> list[str]:
        return [dims_label(d) for d in self.choices]


Dims = list[int] | DimsChoice


def _parse_dims(value: Any) -> Dims:
    if value is None:
        return []
    if isinstance(value, list):
        check_dims(value)
        return value
    if isinstance(value, DimsChoice):
        return value
    if isinstance(value, Mapping):
        if value.get("type") != "categorical":
            raise ValueError("a searched matryoshka_dims is {type: categorical, choices: [[...], ...]}")
        return DimsChoice.model_validate(dict(value))
    raise ValueError("give a list of dimensions, e.g. [256, 128, 64], or {type: categorical, choices: [[...], ...]}")


DimsField = Annotated[Dims, BeforeValidator(_parse_dims)]


def check_dims(dims: list[int], where: str = "") -> None:
    """Refuse a list of Matryoshka dimensions that is not positive integers, strictly descending."""
    prefix = f"{where}: " if where else ""
    if any(not has_kind(d, "int") or d < 1 for d in dims):
        raise ValueError(f"{prefix}{dims} must hold positive integers")
    if any(a <= b for a, b in itertools.pairwise(dims)):
        raise ValueError(f"{prefix}{dims} must be strictly descending, e.g. [256, 128, 64]")


def dims_label(dims: Sequence[int]) -> str:
    """The Optuna value of a list of Matryoshka dimensions: ``"256,128,64"``, or ``"none"``."""
    return ",".join(str(d) for d in dims) or NO_DIMS


def dims_of_label(label: str) -> list[int]:
    return [] if label == NO_DIMS else [int(d) for d in label.split(",")]
