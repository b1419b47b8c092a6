"""The kinds of one search-space parameter: fixed, float, int or categorical.

In YAML a plain value means fixed; a mapping with ``type`` (float, int, categorical) means
searched. Each searched kind asks Optuna for a value (``suggest``), tells whether a value lies in
it (``contains``) and lists the values it spans (``values``). Also here: the value-kind check
(``has_kind``) and the rule check that the search space and its levers apply to their fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_serializer, model_validator

from hpo.settings.schema import Strict

if TYPE_CHECKING:
    import optuna

Scalar = str | int | float | bool | None
# A field's rule: (kind as has_kind reads it, check, what the check requires)
Rule = tuple[str, Callable[[Any], bool], str]


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
        return has_kind(value, "float") and self.low <= value <= self.high

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
        return has_kind(value, "int") and self.low <= value <= self.high and (value - self.low) % self.step == 0

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


def parse_param(value: Any) -> Param:
    """One parameter as written in YAML: a plain value (fixed) or a mapping with ``type`` (searched)."""
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


ParamField = Annotated[Param, BeforeValidator(parse_param)]


def check_rules(model: Strict, rules: Mapping[str, Rule]) -> None:
    """Check every value each parameter of ``model`` named in ``rules`` may take against its rule."""
    for name, (kind, check, rule) in rules.items():
        param: Param = getattr(model, name)
        if isinstance(param, FloatParam) and kind.startswith(("int", "str")):
            raise ValueError(f"{name}: must be {kind.rstrip('?')}-valued; use type int or categorical")
        for value in param.values():
            if not has_kind(value, kind) or not check(value):
                raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")


def has_kind(value: Any, kind: str) -> bool:
    """Whether ``value`` is of ``kind``: str, bool, int or float (a finite number; not a bool), ``?`` for null too."""
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
