"""The search space: which training hyperparameters are searched, which are fixed.

In YAML a plain value means fixed; a mapping with ``type`` (float, int, categorical) means
searched (the kinds are in :mod:`hpo.settings.params`). The loss is a mapping from loss name to
that loss's own parameters, which are searched only when that loss is chosen (Optuna names them
``<Loss>.<param>``). The quality levers, mined hard negatives and Matryoshka dimensions, have
their own spaces (:mod:`hpo.settings.levers`). A trial's draw from the space is its
:class:`TrainingParams`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BeforeValidator, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from hpo.errors import unknown_key_message
from hpo.settings.levers import (
    DimsChoice,
    DimsField,
    HardNegatives,
    HardNegativesSpace,
    check_dims,
    dims_label,
    dims_of_label,
)
from hpo.settings.params import (
    CategoricalParam,
    FixedParam,
    Param,
    ParamField,
    Rule,
    Searched,
    check_rules,
    has_kind,
    parse_param,
)
from hpo.settings.schema import Strict

if TYPE_CHECKING:
    import optuna

SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup", "polynomial")


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
        losses[str(name)] = {str(k): parse_param(v) for k, v in (params or {}).items()}
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
    hard_negatives: HardNegatives | None = None  # None: in-batch negatives only
    matryoshka_dims: list[int] = Field(default_factory=list)  # empty: no MatryoshkaLoss

    @model_validator(mode="after")
    def _check_values(self) -> TrainingParams:
        for name, (kind, check, rule) in _FIELD_RULES.items():
            value = getattr(self, name)
            if not has_kind(value, kind) or not check(value):
                raise ValueError(f"{name}: {value!r} is not allowed (needs {rule})")
        check_dims(self.matryoshka_dims, "matryoshka_dims")
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


# field -> its rule: (kind, check, what the check requires)
_FIELD_RULES: dict[str, Rule] = {
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
    matryoshka_dims: DimsField = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_values(self) -> SearchSpace:
        check_rules(self, _FIELD_RULES)
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
