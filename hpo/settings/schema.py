"""The base of every config model: frozen, strict about unknown keys and about numbers."""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

from hpo.errors import unknown_key_message


class Strict(BaseModel):
    """Frozen model that rejects unknown keys with a close-match suggestion, and any number that is not one.

    Every number anywhere in its input must be finite, and a field that takes a number (an int or
    a float, alone, in a list or tuple, or as a mapping's values) gets one: not true/false, not text.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    raise ValueError(unknown_key_message(str(key), allowed))
        return data

    @model_validator(mode="before")
    @classmethod
    def _reject_non_numbers(cls, data: Any) -> Any:
        # Lax mode reads true as 1, "12" as 12 and passes inf and nan. strict=True would refuse a
        # YAML list for a tuple, so the raw input is walked instead (with the keys' dotted path). A
        # field validator for every field ("*") cannot be used: pydantic forbids one on a union's
        # discriminator.
        if isinstance(data, dict):
            _check_fields(cls, data, "")
        return data


def _check_fields(model: type[BaseModel], data: dict[Any, Any], prefix: str) -> None:
    for key, value in data.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        _check_value(f"{prefix}{key}", value, field.annotation if field is not None else Any)


def _check_value(where: str, value: Any, annotation: Any) -> None:
    """A ValueError naming ``where`` for a float that is not finite, or no number where ``annotation`` wants one."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value}")
    members = _members(annotation)
    wanted = _number_kind(members)
    if wanted and isinstance(value, (bool, str)):
        shown = str(value).lower() if isinstance(value, bool) else f"text {value!r}"
        raise ValueError(f"{where}: expected {wanted}, got {shown}")
    if isinstance(value, dict):
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(models) > 1:  # a union tagged by 'type' (sampler, pruner): the member the tag names
            models = [m for m in models if value.get("type") in get_args(_field_type(m, "type"))]
        if len(models) == 1:
            _check_fields(models[0], value, f"{where}.")
            return
        values = _item_type(members, dict)
        for key, item in value.items():
            _check_value(f"{where}.{key}", item, values(0))
    elif isinstance(value, (list, tuple)):
        items = _item_type(members, list, tuple)
        for i, item in enumerate(value):
            _check_value(f"{where}[{i}]", item, items(i))


def _field_type(model: type[BaseModel], name: str) -> Any:
    field = model.model_fields.get(name)
    return field.annotation if field is not None else None


def _members(annotation: Any) -> tuple[Any, ...]:
    """The types ``annotation`` allows (a union's members; Annotated unwrapped; None left out)."""
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    unwrapped = (get_args(m)[0] if get_origin(m) is Annotated else m for m in members)
    return tuple(m for m in unwrapped if m is not type(None))


def _item_type(members: tuple[Any, ...], *containers: type) -> Callable[[int], Any]:
    """A function of the position to the annotation of a container's items (Any when unknown)."""
    found = [m for m in members if get_origin(m) in containers]
    if len(found) != 1:
        return lambda i: Any
    origin, args = get_origin(found[0]), get_args(found[0])
    if origin is dict:
        return lambda i: args[1]
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        return lambda i: args[0]
    return lambda i: args[i] if i < len(args) else Any


def _number_kind(members: tuple[Any, ...]) -> str | None:
    """'an integer' or 'a number' when ``members`` take an int or float but no bool or text, else None."""
    if not members or bool in members or str in members or Any in members or not {int, float} & set(members):
        return None
    return "a number" if float in members else "an integer"
