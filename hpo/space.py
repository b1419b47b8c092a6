"""The search space: which training hyperparameters are searched, which are fixed.

In YAML a plain value means fixed; a mapping with ``type`` (float, int, categorical) means
searched. The loss is a mapping from loss name to that loss's own parameters, which are searched
only when that loss is chosen (Optuna names them ``<Loss>.<param>``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_serializer, model_validator

from hpo.errors import close_match_hint, unknown_key_message
from hpo.schema import Strict

if TYPE_CHECKING:
    import optuna

    from hpo.training.losses import LossSpec

Scalar = str | int | float | bool | None
SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "polynomial")


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

    @model_validator(mode="after")
    def _check_values(self) -> TrainingParams:
        for name, (kind, check, rule) in _FIELD_RULES.items():
            value = getattr(self, name)
            if not _has_kind(value, kind) or not check(value):
                raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")
        return self

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

    @model_validator(mode="after")
    def _check_values(self) -> SearchSpace:
        for name, (kind, check, rule) in _FIELD_RULES.items():
            param: Param = getattr(self, name)
            if isinstance(param, FloatParam) and kind.startswith(("int", "str")):
                raise ValueError(f"{name}: must be {kind.rstrip('?')}-valued; use type int or categorical")
            for value in param.values():
                if not _has_kind(value, kind) or not check(value):
                    raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")
        return self

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
        return specs

    def recipe_params(self, recipe: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Optuna fixed params for a known recipe; ValueError when it leaves the search space."""
        specs = self.searched_params()
        params: dict[str, Any] = {}
        for key, value in recipe.items():
            if key in specs:
                if not specs[key].contains(value):
                    raise ValueError(f"{where}.{key}: {value!r} is outside the search space ({_describe(specs[key])})")
                params[key] = value
            elif key in _FIELD_RULES:
                fixed = getattr(self, key).value
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
        )


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
