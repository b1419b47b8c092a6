from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from pydantic import Field, ValidationError

from hpo.settings.schema import Strict


class _Knobs(Strict):
    count: int = 0
    rate: float = 0.0
    timeout: float | None = None
    size: Annotated[int, Field(gt=0)] | None = None
    enabled: bool = False
    mode: Literal["fast", "slow"] = "fast"
    anything: str | int | float | bool | None = None


class _Study(Strict):
    knobs: _Knobs = _Knobs()
    runs: list[_Knobs] = Field(default_factory=list)
    trials: int = Field(1, gt=0)
    prices: dict[str, float] = Field(default_factory=dict)
    span: tuple[float, float] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


def _first_error(data: dict[str, Any]) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as info:
        _Study.model_validate(data)
    error = info.value.errors(include_url=False)[0]
    return error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"trials": True}, "Value error, trials: expected an integer, got true"),
        ({"knobs": {"count": False}}, "Value error, knobs.count: expected an integer, got false"),
        ({"knobs": {"rate": True}}, "Value error, knobs.rate: expected a number, got true"),
        ({"knobs": {"timeout": True}}, "Value error, knobs.timeout: expected a number, got true"),
        ({"knobs": {"size": True}}, "Value error, knobs.size: expected an integer, got true"),
        ({"runs": [{}, {"count": True}]}, "Value error, runs[1].count: expected an integer, got true"),
        ({"prices": {"cpu": True}}, "Value error, prices.cpu: expected a number, got true"),
        ({"span": [0, True]}, "Value error, span[1]: expected a number, got true"),
    ],
    ids=["top", "int", "float", "optional-float", "constrained-int", "in-a-list", "mapping-value", "tuple-item"],
)
def test_a_bool_is_refused_where_a_number_is_expected(data: dict[str, Any], message: str) -> None:
    assert _first_error(data) == ((), message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"knobs": {"rate": float("inf")}}, "Value error, knobs.rate: expected a finite number, got inf"),
        ({"knobs": {"timeout": float("nan")}}, "Value error, knobs.timeout: expected a finite number, got nan"),
        ({"prices": {"cpu": float("inf")}}, "Value error, prices.cpu: expected a finite number, got inf"),
        ({"span": [float("-inf"), 1]}, "Value error, span[0]: expected a finite number, got -inf"),
        ({"knobs": {"anything": float("nan")}}, "Value error, knobs.anything: expected a finite number, got nan"),
        ({"extra": {"deep": [float("inf")]}}, "Value error, extra.deep[0]: expected a finite number, got inf"),
    ],
    ids=["float", "optional-float", "mapping-value", "tuple-item", "any-scalar", "untyped-mapping"],
)
def test_a_number_that_is_not_finite_is_refused_anywhere(data: dict[str, Any], message: str) -> None:
    assert _first_error(data) == ((), message)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"knobs": {"rate": "1e-4"}}, "Value error, knobs.rate: expected a number, got text '1e-4'"),
        ({"knobs": {"count": "yes"}}, "Value error, knobs.count: expected an integer, got text 'yes'"),
        ({"prices": {"cpu": "1.5"}}, "Value error, prices.cpu: expected a number, got text '1.5'"),
    ],
    ids=["float", "int", "mapping-value"],
)
def test_text_is_refused_where_a_number_is_expected(data: dict[str, Any], message: str) -> None:
    # The config reader reads YAML 1.2's numbers (1e-4 is a float), so quoted text is never a number here.
    assert _first_error(data) == ((), message)


def test_an_int_is_still_a_float() -> None:
    rate = _Study.model_validate({"knobs": {"rate": 3}}).knobs.rate
    assert rate == 3.0
    assert isinstance(rate, float)


def test_a_string_is_still_a_literal() -> None:
    assert _Study.model_validate({"knobs": {"mode": "slow"}}).knobs.mode == "slow"


def test_a_bool_is_kept_where_a_bool_is_allowed() -> None:
    knobs = _Study.model_validate({"knobs": {"enabled": True, "anything": False}}).knobs
    assert knobs.enabled is True
    assert knobs.anything is False


def test_unknown_keys_are_still_refused() -> None:
    assert _first_error({"knobs": {"cuont": 1}}) == (
        ("knobs",),
        "Value error, unknown key 'cuont'; did you mean 'count'? "
        "(allowed: count, rate, timeout, size, enabled, mode, anything)",
    )
