"""The search space: which training hyperparameters are searched, which are fixed.

In YAML a plain value means fixed; a mapping with ``type`` (float, int, categorical) means
searched. The loss is a mapping from loss name to that loss's own parameters, which are searched
only when that loss is chosen (Optuna names them ``<Loss>.<param>``).

Two quality levers go beyond the usual hyperparameters: mined hard negatives
(``hard_negatives``: the miner and which of its ranks become negatives, Optuna names
``hard_negatives.<key>``, searched only when a miner is chosen) and Matryoshka dimensions
(``matryoshka_dims``: a list, or a choice of lists that Optuna sees as strings like ``"256,128"``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from hpo.errors import close_match_hint, unknown_key_message
from hpo.schema import Strict

if TYPE_CHECKING:
    import optuna

    from hpo.training.losses import LossSpec

Scalar = str | int | float | bool | None
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "polynomial")
MINERS = ("none", "bm25", "dense")
SAMPLINGS = ("top", "random")
NO_DIMS = "none"  # the Optuna value of an empty choice of Matryoshka dimensions: no MatryoshkaLoss


class _Spec(Strict):
    pass


class FloatParam(_Spec):
    """A float searched in [low, high], optionally on a log scale or a grid of ``step``."""

    type: Literal["float"]
    low: float
    high: float
    log: bool = False
    step: float | None = None

    @model_validator(mode="after")
    def _check(self) -> FloatParam:
        _check_range(self.low, self.high, self.log, self.step)
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return _has_kind(value, "float") and self.low <= value <= self.high

    def values(self) -> list[Scalar]:
        return [self.low, self.high]


class IntParam(_Spec):
    """An integer searched in [low, high]."""

    type: Literal["int"]
    low: int
    high: int
    log: bool = False
    step: int = 1

    @model_validator(mode="after")
    def _check(self) -> IntParam:
        _check_range(self.low, self.high, self.log, None if self.step == 1 else self.step)
        return self

    def suggest(self, trial: optuna.Trial, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step)

    def contains(self, value: Any) -> bool:
        return _has_kind(value, "int") and self.low <= value <= self.high and (value - self.low) % self.step == 0

    def values(self) -> list[Scalar]:
        return [self.low, self.high]


class CategoricalParam(_Spec):
    """One of a list of values."""

    type: Literal["categorical"]
    choices: list[str | bool | int | float] = Field(..., min_length=1)

    def suggest(self, trial: optuna.Trial, name: str) -> Scalar:
        return trial.suggest_categorical(name, self.choices)

    def contains(self, value: Any) -> bool:
        return value in self.choices

    def values(self) -> list[Scalar]:
        return list(self.choices)


class FixedParam(_Spec):
    """A value that is the same in every trial; written back as the plain value."""

    type: Literal["fixed"] = "fixed"
    value: Scalar

    @model_serializer
    def _as_plain_value(self) -> Scalar:
        return self.value

    def values(self) -> list[Scalar]:
        return [self.value]


Searched = FloatParam | IntParam | CategoricalParam
Param = Searched | FixedParam
_SPECS: dict[str, type[Searched]] = {
    "float": FloatParam,
    "int": IntParam,
    "categorical": CategoricalParam,
}


def _check_range(low: float, high: float, log: bool, step: float | None) -> None:
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    if log and low <= 0:
        raise ValueError(f"a log-scale range needs low > 0 (got {low})")
    if log and step is not None:
        raise ValueError("'log' and 'step' cannot be combined")
    if step is not None and step <= 0:
        raise ValueError(f"step must be above 0 (got {step})")
    if step is not None and step > high - low and high > low:
        raise ValueError(f"step ({step}) is larger than the range {low} to {high}")


def _parse_param(value: Any) -> Param:
    if isinstance(value, (FloatParam, IntParam, CategoricalParam, FixedParam)):
        return value
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind not in _SPECS:
            raise ValueError(
                f"a searched parameter needs 'type' set to one of: {', '.join(_SPECS)} "
                f"(got {kind!r}); write a plain value to fix it"
            )
        return _SPECS[kind].model_validate(dict(value))
    if isinstance(value, list):
        raise ValueError("a list is not a parameter; use {type: categorical, choices: [...]}")
    return FixedParam(value=value)


ParamField = Annotated[Param, BeforeValidator(_parse_param)]


def _parse_loss(value: Any) -> dict[str, dict[str, Param]]:
    if isinstance(value, str):
        return {value: {}}
    if isinstance(value, Mapping) and "type" in value:
        raise ValueError(
            "write the loss as a mapping of loss name to its parameters, e.g. "
            "{MultipleNegativesRankingLoss: {scale: 20}}; several names mean the loss is searched"
        )
    if not isinstance(value, Mapping) or not value:
        raise ValueError("give a loss name, or a mapping of loss names to their parameters")
    losses: dict[str, dict[str, Param]] = {}
    for name, params in value.items():
        if params is not None and not isinstance(params, Mapping):
            raise ValueError(f"parameters of loss '{name}' must be a mapping (got {params!r})")
        losses[str(name)] = {str(k): _parse_param(v) for k, v in (params or {}).items()}
    return losses


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


# hard_negatives key -> (kind, check, what the check requires), as _FIELD_RULES
_MINING_RULES: dict[str, tuple[str, Callable[[Any], bool], str]] = {
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
        _check_rules(self, _MINING_RULES)
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


def _check_rules(model: Strict, rules: Mapping[str, tuple[str, Callable[[Any], bool], str]]) -> None:
    for name, (kind, check, rule) in rules.items():
        param: Param = getattr(model, name)
        if isinstance(param, FloatParam) and kind.startswith(("int", "str")):
            raise ValueError(f"{name}: must be {kind.rstrip('?')}-valued; use type int or categorical")
        for value in param.values():
            if not _has_kind(value, kind) or not check(value):
                raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")


class DimsChoice(Strict):
    """Matryoshka dimension lists searched as a choice (``[]``: no MatryoshkaLoss)."""

    type: Literal["categorical"]
    choices: list[list[int]] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _check(self) -> DimsChoice:
        for dims in self.choices:
            _check_dims(dims, "choices")
        return self

    def labels(self) -> list[str]:
        return [dims_label(d) for d in self.choices]


Dims = list[int] | DimsChoice


def _parse_dims(value: Any) -> Dims:
    if value is None:
        return []
    if isinstance(value, list):
        _check_dims(value)
        return value
    if isinstance(value, DimsChoice):
        return value
    if isinstance(value, Mapping):
        if value.get("type") != "categorical":
            raise ValueError("a searched matryoshka_dims is {type: categorical, choices: [[...], ...]}")
        return DimsChoice.model_validate(dict(value))
    raise ValueError("give a list of dimensions, e.g. [256, 128, 64], or {type: categorical, choices: [[...], ...]}")


def _check_dims(dims: list[int], where: str = "") -> None:
    prefix = f"{where}: " if where else ""
    if any(not _has_kind(d, "int") or d < 1 for d in dims):
        raise ValueError(f"{prefix}{dims} must hold positive integers")
    if any(a <= b for a, b in itertools.pairwise(dims)):
        raise ValueError(f"{prefix}{dims} must be strictly descending, e.g. [256, 128, 64]")


def dims_label(dims: Sequence[int]) -> str:
    """The Optuna value of a list of Matryoshka dimensions: ``"256,128,64"``, or ``"none"``."""
    return ",".join(str(d) for d in dims) or NO_DIMS


def dims_of_label(label: str) -> list[int]:
    return [] if label == NO_DIMS else [int(d) for d in label.split(",")]


class TrainingParams(Strict):
    """The fully resolved hyperparameters of one training run (a trial's, or ``hpo train``'s)."""

    model: str
    loss: str
    learning_rate: float
    batch_size: int
    epochs: int
    warmup_ratio: float
    weight_decay: float
    max_seq_length: int | None
    scheduler: str
    loss_params: dict[str, Any] = Field(default_factory=dict)
    hard_negatives: HardNegatives | None = None  # None: in-batch negatives only
    matryoshka_dims: list[int] = Field(default_factory=list)  # empty: no MatryoshkaLoss

    @model_validator(mode="after")
    def _check_values(self) -> TrainingParams:
        for name, (kind, check, rule) in _FIELD_RULES.items():
            value = getattr(self, name)
            if not _has_kind(value, kind) or not check(value):
                raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")
        _check_dims(self.matryoshka_dims, "matryoshka_dims")
        return self

    @model_serializer(mode="wrap")
    def _omit_unused_levers(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A run without mined negatives or Matryoshka exports exactly what it did before they existed.
        data: dict[str, Any] = handler(self)
        if self.hard_negatives is None:
            data.pop("hard_negatives", None)
        if not self.matryoshka_dims:
            data.pop("matryoshka_dims", None)
        return data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingParams:
        return cls.model_validate(dict(data))


# field -> (kind, check, what the check requires)
_FIELD_RULES: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "model": ("str", lambda v: bool(v), "a non-empty model id or path"),
    "learning_rate": ("float", lambda v: 0 < v < 1, "0 < learning_rate < 1"),
    "batch_size": ("int", lambda v: v >= 2, "batch_size >= 2"),
    "epochs": ("int", lambda v: v >= 1, "epochs >= 1"),
    "warmup_ratio": ("float", lambda v: 0 <= v < 1, "0 <= warmup_ratio < 1"),
    "weight_decay": ("float", lambda v: 0 <= v < 1, "0 <= weight_decay < 1"),
    "max_seq_length": ("int?", lambda v: v is None or v >= 8, "max_seq_length >= 8 or null"),
    "scheduler": ("str", lambda v: v in SCHEDULERS, f"one of: {', '.join(SCHEDULERS)}"),
}


class SearchSpace(Strict):
    """Training hyperparameters; each one fixed or searched."""

    model: ParamField
    loss: Annotated[dict[str, dict[str, Param]], BeforeValidator(_parse_loss)]
    learning_rate: ParamField
    batch_size: ParamField
    epochs: ParamField
    warmup_ratio: ParamField = FixedParam(value=0.1)
    weight_decay: ParamField = FixedParam(value=0.0)
    max_seq_length: ParamField = FixedParam(value=None)
    scheduler: ParamField = FixedParam(value="linear")
    hard_negatives: HardNegativesSpace = Field(default_factory=HardNegativesSpace)
    matryoshka_dims: Annotated[Dims, BeforeValidator(_parse_dims)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_values(self) -> SearchSpace:
        _check_rules(self, _FIELD_RULES)
        return self

    @model_serializer(mode="wrap")
    def _omit_unused_levers(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A study that uses neither lever stores the same config as before they existed.
        data: dict[str, Any] = handler(self)
        if not self.hard_negatives.model_fields_set:
            data.pop("hard_negatives", None)
        if self.matryoshka_dims == []:
            data.pop("matryoshka_dims", None)
        return data

    def check_losses(self, allowed: Mapping[str, LossSpec], objective: str) -> None:
        """Raise ValueError unless every loss and loss parameter is known to the task, and in range."""
        for loss, params in self.loss.items():
            if loss not in allowed:
                raise ValueError(
                    f"search_space.loss: '{loss}' is not a {objective} loss{close_match_hint(loss, list(allowed))} "
                    f"(allowed: {', '.join(allowed)})"
                )
            for pname, param in params.items():
                types = allowed[loss].params
                if pname not in types:
                    raise ValueError(f"search_space.loss.{loss}: " + unknown_key_message(pname, list(types)))
                kind = {float: "float", int: "int", bool: "bool"}[types[pname]]
                least = allowed[loss].at_least.get(pname)
                for value in param.values():
                    if not _has_kind(value, kind):
                        raise ValueError(f"search_space.loss.{loss}.{pname}: {value!r} is not {kind}-valued")
                    if least is not None and isinstance(value, (int, float)) and value < least:
                        raise ValueError(
                            f"search_space.loss.{loss}.{pname}: {value!r} is not allowed (needs >= {least})"
                        )

    def suggest(self, trial: optuna.Trial) -> TrainingParams:
        """Draw one trial's hyperparameters from the space."""
        return self._resolve(lambda name, spec: spec.suggest(trial, name))

    def resolve(self, params: Mapping[str, Any]) -> TrainingParams:
        """Rebuild the hyperparameters of a finished trial from its Optuna params."""
        return self._resolve(lambda name, spec: params[name])

    def searched_params(self) -> dict[str, Searched]:
        """Every parameter Optuna may be asked for, by its Optuna name (loss parameters included)."""
        specs: dict[str, Searched] = {
            name: param for name in _FIELD_RULES if not isinstance(param := getattr(self, name), FixedParam)
        }
        if len(self.loss) > 1:
            specs["loss"] = CategoricalParam(type="categorical", choices=list(self.loss))
        for loss, params in self.loss.items():
            specs.update({f"{loss}.{p}": s for p, s in params.items() if not isinstance(s, FixedParam)})
        mining = {"miner": self.hard_negatives.miner, **self.hard_negatives.settings()}
        specs.update({f"hard_negatives.{k}": p for k, p in mining.items() if not isinstance(p, FixedParam)})
        if isinstance(self.matryoshka_dims, DimsChoice):
            specs["matryoshka_dims"] = CategoricalParam(type="categorical", choices=self.matryoshka_dims.labels())
        return specs

    def fixed_params(self) -> dict[str, Any]:
        """The value of every fixed parameter, by the Optuna name it would have if searched."""
        mining = {"miner": self.hard_negatives.miner, **self.hard_negatives.settings()}
        fixed = {name: p.value for name in _FIELD_RULES if isinstance(p := getattr(self, name), FixedParam)}
        fixed |= {f"hard_negatives.{k}": p.value for k, p in mining.items() if isinstance(p, FixedParam)}
        if isinstance(self.matryoshka_dims, list):
            fixed["matryoshka_dims"] = dims_label(self.matryoshka_dims)
        return fixed

    def dimension_candidates(self) -> list[int]:
        """Every Matryoshka dimension any trial may train, largest first."""
        lists = self.matryoshka_dims.choices if isinstance(self.matryoshka_dims, DimsChoice) else [self.matryoshka_dims]
        return sorted({d for dims in lists for d in dims}, reverse=True)

    def recipe_params(self, recipe: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Optuna fixed params for a known recipe; ValueError when it leaves the search space."""
        specs = self.searched_params()
        params: dict[str, Any] = {}
        for key, value in recipe.items():
            if key in specs:
                if not specs[key].contains(value):
                    raise ValueError(f"{where}.{key}: {value!r} is outside the search space ({_describe(specs[key])})")
                params[key] = value
            elif key in (fixed_values := self.fixed_params()):
                fixed = fixed_values[key]
                if value != fixed:
                    raise ValueError(f"{where}.{key}: {value!r} differs from the fixed value {fixed!r} in search_space")
            else:
                raise ValueError(f"{where}: " + unknown_key_message(key, [*specs, *_FIELD_RULES]))
        return params

    def searched_models(self) -> list[str]:
        return [str(v) for v in self.model.values()]

    def _resolve(self, choose: Callable[[str, Searched], Any]) -> TrainingParams:
        def pick(name: str, param: Param) -> Any:
            return param.value if isinstance(param, FixedParam) else choose(name, param)

        losses = list(self.loss)
        loss = losses[0] if len(losses) == 1 else choose("loss", CategoricalParam(type="categorical", choices=losses))
        loss_params = {p: pick(f"{loss}.{p}", spec) for p, spec in self.loss[loss].items()}
        values = {name: pick(name, getattr(self, name)) for name in _FIELD_RULES}
        dims = self.matryoshka_dims
        if isinstance(dims, DimsChoice):
            choice = CategoricalParam(type="categorical", choices=list(dims.labels()))
            dims = dims_of_label(str(choose("matryoshka_dims", choice)))
        return TrainingParams(
            model=str(values["model"]),
            loss=str(loss),
            learning_rate=float(values["learning_rate"]),
            batch_size=int(values["batch_size"]),
            epochs=int(values["epochs"]),
            warmup_ratio=float(values["warmup_ratio"]),
            weight_decay=float(values["weight_decay"]),
            max_seq_length=None if values["max_seq_length"] is None else int(values["max_seq_length"]),
            scheduler=str(values["scheduler"]),
            loss_params=loss_params,
            hard_negatives=self._resolve_mining(pick, str(values["model"])),
            matryoshka_dims=list(dims),
        )

    def _resolve_mining(self, pick: Callable[[str, Param], Any], model: str) -> HardNegatives | None:
        space = self.hard_negatives
        miner = pick("hard_negatives.miner", space.miner)
        if miner == "none":
            return None  # the other mining settings are not drawn: they would mean nothing
        values = {name: pick(f"hard_negatives.{name}", param) for name, param in space.settings().items()}
        miner_model = (space.miner_model or model) if miner == "dense" else None
        return HardNegatives(miner=miner, miner_model=miner_model, **values)


def _describe(spec: Searched) -> str:
    if isinstance(spec, CategoricalParam):
        return "choices: " + ", ".join(map(str, spec.choices))
    return f"{spec.low} to {spec.high}"


def _has_kind(value: Any, kind: str) -> bool:
    if kind.endswith("?") and value is None:
        return True
    kind = kind.rstrip("?")
    if kind == "str":
        return isinstance(value, str)
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)
