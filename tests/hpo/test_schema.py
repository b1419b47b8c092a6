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


def _first_error(data: dict[str, Any]) -> tuple[tuple[int | str, ...], str]:
    with pytest.raises(ValidationError) as info:
        _Study.model_validate(data)
    error = info.value.errors(include_url=False)[0]
    return error["loc"], error["msg"]


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"trials": True}, (), "Value error, trials: expected an integer, got true"),
        ({"knobs": {"count": False}}, ("knobs",), "Value error, count: expected an integer, got false"),
        ({"knobs": {"rate": True}}, ("knobs",), "Value error, rate: expected a number, got true"),
        ({"knobs": {"timeout": True}}, ("knobs",), "Value error, timeout: expected a number, got true"),
        ({"knobs": {"size": True}}, ("knobs",), "Value error, size: expected an integer, got true"),
        ({"runs": [{}, {"count": True}]}, ("runs", 1), "Value error, count: expected an integer, got true"),
    ],
    ids=["top", "int", "float", "optional-float", "constrained-int", "in-a-list"],
)
def test_a_bool_is_refused_where_a_number_is_expected(
    data: dict[str, Any], loc: tuple[int | str, ...], message: str
) -> None:
    assert _first_error(data) == (loc, message)


def test_an_int_is_still_a_float() -> None:
    rate = _Study.model_validate({"knobs": {"rate": 3}}).knobs.rate
    assert rate == 3.0
    assert isinstance(rate, float)


def test_a_number_string_is_still_a_float() -> None:
    # YAML 1.1 reads 1e-4 (no dot) as a string; lax conversion keeps it working.
    assert _Study.model_validate({"knobs": {"rate": "1e-4"}}).knobs.rate == 1e-4


def test_a_string_is_still_a_literal() -> None:
    assert _Study.model_validate({"knobs": {"mode": "slow"}}).knobs.mode == "slow"


def test_a_bool_is_kept_where_a_bool_is_allowed() -> None:
    knobs = _Study.model_validate({"knobs": {"enabled": True, "anything": False}}).knobs
    assert knobs.enabled is True
    assert knobs.anything is False


def test_a_word_for_an_int_is_refused_by_pydantic() -> None:
    # yes/no stay strings when read by hpo.settings.yaml_file, so `count: yes` fails here instead of becoming 1.
    loc, message = _first_error({"knobs": {"count": "yes"}})
    assert (loc, message) == (
        ("knobs", "count"),
        "Input should be a valid integer, unable to parse string as an integer",
    )


def test_unknown_keys_are_still_refused() -> None:
    assert _first_error({"knobs": {"cuont": 1}}) == (
        ("knobs",),
        "Value error, unknown key 'cuont'; did you mean 'count'? "
        "(allowed: count, rate, timeout, size, enabled, mode, anything)",
    )
