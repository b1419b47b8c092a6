"""The base of every config model: frozen, strict about unknown keys and about numbers."""

from __future__ import annotations

import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, model_validator

from hpo.errors import unknown_key_message


class Strict(BaseModel):
    """Frozen model that rejects unknown keys with a close-match suggestion, and true/false for numbers."""

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
    def _reject_bool_for_number(cls, data: Any) -> Any:
        # Lax mode reads true as 1 for int and float fields. strict=True would refuse that, but also
        # "1e-4" (a string to YAML 1.1) for a float, so only booleans are refused. A field validator
        # for every field ("*") cannot be used: pydantic forbids one on a union's discriminator.
        if isinstance(data, dict):
            for key, value in data.items():
                field = cls.model_fields.get(key) if isinstance(value, bool) else None
                wanted = _number_kind(field.annotation) if field else None
                if wanted:
                    raise ValueError(f"{key}: expected {wanted}, got {str(value).lower()}")
        return data


def _number_kind(annotation: Any) -> str | None:
    """'an integer' or 'a number' when ``annotation`` takes an int or float but no bool, else None."""
    members = get_args(annotation) if get_origin(annotation) in (Union, types.UnionType) else (annotation,)
    members = tuple(get_args(m)[0] if get_origin(m) is Annotated else m for m in members)
    if bool in members or Any in members or not {int, float} & set(members):
        return None
    return "a number" if float in members else "an integer"
