"""The study config's typed, frozen models: what every part of hpo and every task reads.

Raw dicts stop at the edge: :mod:`hpo.store.config_file` reads a YAML file into these models and checks
it against its task, raising :class:`~hpo.errors.ConfigError` with one line naming the file, the
key, the bad value and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from hpo.errors import UsageError
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.settings.schema import Strict
from hpo.settings.space import SearchSpace


class DataSource(Strict):
    """Where one split comes from: a local file, a Hub dataset, or the built-in demo data."""

    path: str | None = None
    hub: str | None = None
    name: str | None = None
    split: str | None = None
    revision: str | None = None
    builtin: Literal["stdlib-docstrings"] | None = None

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        path = Path(value).expanduser()
        if base is not None and not path.is_absolute():
            path = Path(base) / path
        if path.suffix.lower() not in FILE_FORMATS:
            raise ValueError(
                f"unsupported file type '{path.suffix}' for '{value}' (use one of: {', '.join(sorted(FILE_FORMATS))})"
            )
        return str(path.resolve()) if base is not None else str(path)

    @model_validator(mode="after")
    def _one_origin(self) -> DataSource:
        given = [k for k in ("path", "hub", "builtin") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path', 'hub' or 'builtin'")
        if self.hub is not None and self.split is None:
            raise ValueError(f"hub dataset '{self.hub}' needs a 'split' (e.g. split: train)")
        if self.hub is None and (self.name or self.split or self.revision):
            raise ValueError("'name', 'split' and 'revision' apply only to a 'hub' dataset")
        return self

    def describe(self) -> str:
        if self.path is not None:
            return self.path
        if self.hub is not None:
            parts = [self.hub, self.name, self.split]
            return ":".join(p for p in parts if p)
        return f"builtin:{self.builtin}"


FILE_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


class CorpusSource(DataSource):
    """The passage pool for retrieval: rows of (id, text)."""

    id_column: str = "id"
    text_column: str = "text"


class DataConfig(Strict):
    """The splits, the column mapping and how dev/test are carved when not given."""

    train: DataSource
    dev: DataSource | None = None
    test: DataSource | None = None
    corpus: CorpusSource | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    dev_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, ge=0, lt=0.5)
    max_train_samples: int | None = Field(None, gt=0)
    max_dev_queries: int | None = Field(None, gt=0)
    max_test_queries: int | None = Field(None, gt=0)  # a seeded subset of test, for quicker final tests
    # Similarity scores on another scale (e.g. STS's [0, 5]) are rescaled from this range to [0, 1].
    score_range: tuple[float, float] | None = None
    # Pair classification: the label value that means a match (e.g. "yes"); the other value means 0.
    positive_label: str | int | bool | None = None

    @field_validator("score_range")
    @classmethod
    def _check_score_range(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not (math.isfinite(value[0]) and math.isfinite(value[1]) and value[0] < value[1]):
            raise ValueError(f"give [low, high] with low < high, both finite (got {list(value)})")
        return value

    @model_serializer(mode="wrap")
    def _omit_unset_labels(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("score_range", "positive_label"):
            if data.get(key) is None:
                data.pop(key, None)  # configs without them store what they did before they existed
        return data

    def describe(self) -> list[str]:
        """Where each split comes from, one Markdown list item each."""
        dev = self.dev.describe() if self.dev else f"carved from train ({self.dev_fraction:.0%})"
        test = self.test.describe() if self.test else f"carved from train ({self.test_fraction:.0%})"
        lines = [f"- train: {self.train.describe()}", f"- dev: {dev}", f"- test: {test}"]
        return lines + ([f"- corpus: {self.corpus.describe()}"] if self.corpus else [])


class EvaluationConfig(Strict):
    """When intermediate evaluations happen and on which corpus."""

    every_samples: int = Field(..., gt=0)
    corpus_cap: int | None = Field(None, gt=0)
    cap_negatives: Literal["bm25", "random"] = "bm25"
    final_corpus: Literal["full", "capped"] = "full"
    batch_size: int = Field(64, gt=0)
    # The embedding dimension whose metric is the trial's value (null: the model's full dimension).
    matryoshka_dim: int | None = Field(None, gt=0)

    @model_serializer(mode="wrap")
    def _omit_unset_dimension(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if self.matryoshka_dim is None:
            data.pop("matryoshka_dim", None)  # configs without it store what they did before it existed
        return data


class TPESamplerConfig(Strict):
    type: Literal["tpe"]
    n_startup_trials: int = Field(5, ge=0)
    multivariate: bool = True


class RandomSamplerConfig(Strict):
    type: Literal["random"]


class MedianPrunerConfig(Strict):
    type: Literal["median"]
    n_startup_trials: int = Field(2, ge=0)
    n_warmup_steps: int = Field(0, ge=0)
    compare: Literal["latest", "best"] = "latest"


class PercentilePrunerConfig(Strict):
    type: Literal["percentile"]
    percentile: float = Field(..., gt=0, lt=100)
    n_startup_trials: int = Field(2, ge=0)
    n_warmup_steps: int = Field(0, ge=0)
    compare: Literal["latest", "best"] = "latest"


class HyperbandPrunerConfig(Strict):
    type: Literal["hyperband"]
    min_resource: int = Field(..., gt=0)
    reduction_factor: int = Field(3, ge=2)


class NoPrunerConfig(Strict):
    type: Literal["none"]


SamplerConfig = TPESamplerConfig | RandomSamplerConfig
PrunerConfig = MedianPrunerConfig | PercentilePrunerConfig | HyperbandPrunerConfig | NoPrunerConfig
_UNION_TAGS = {
    tag
    for model in (*get_args(SamplerConfig), *get_args(PrunerConfig))
    for tag in get_args(model.model_fields["type"].annotation)
}


MAX_SEED = 2**32 - 1  # the largest seed numpy accepts (transformers seeds numpy with the run's seed)
MAX_TRIALS = 100_000  # each is a queued row written at creation; beyond this, split the study


class BudgetConfig(Strict):
    """How many trials the whole study runs (over all workers), and a per-worker time limit."""

    n_trials: int = Field(..., gt=0, le=MAX_TRIALS)
    timeout: float | None = Field(None, gt=0)
    max_cost: float | None = Field(None, gt=0)  # dollars: workers claim no new trial once the spend reaches it


class FaultToleranceConfig(Strict):
    """Heartbeat and retry settings, rebuilt identically by every worker."""

    heartbeat_interval: int = Field(30, gt=0)
    grace_period: int = Field(90, gt=0)
    max_retries: int = Field(2, ge=0)
    max_consecutive_failures: int = Field(3, gt=0)
    db_outage_seconds: float = Field(300, gt=0)

    @model_validator(mode="after")
    def _grace_after_heartbeat(self) -> FaultToleranceConfig:
        if self.grace_period <= self.heartbeat_interval:
            raise ValueError(
                f"grace_period ({self.grace_period}) must be longer than heartbeat_interval ({self.heartbeat_interval})"
            )
        return self


class WarmStartConfig(Strict):
    """Known recipes run as the study's first trials, e.g. a paper's default hyperparameters."""

    recipes: list[dict[str, str | int | float | bool]] = Field(default_factory=list)
    each_model: bool = True  # one trial per recipe and per candidate base model
    # The task's default recipe (its recommended loss, learning rate 2e-5, batch 32, 1 epoch, warmup
    # 0.1) as the study's first trial: the baseline a search must beat, not just zero-shot.
    default_recipe: bool = False

    @model_serializer(mode="wrap")
    def _omit_unset_default_recipe(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if not self.default_recipe:
            data.pop("default_recipe", None)  # configs without it store what they did before it existed
        return data


# A gain that matters, in the metric's units: one point on the 0-100 scale papers report. Every
# metric hpo's tasks optimise (NDCG, MRR, MAP, recall, AP, accuracy, F1, Spearman, Pearson, MCC) is
# bounded by 1, so one absolute threshold fits them all, where a relative one would not: it would
# ask a retrieval model at 0.05 for 0.0005 and one at 0.90 for 0.009, and mean nothing for a
# correlation near 0. Below a point, a gain on a dev set of a few hundred items rarely survives
# another seed or another sample of items, and is no reason to prefer a model.
DEFAULT_MIN_GAIN = 0.01


class SignificanceConfig(Strict):
    """How two models are compared on the same items (paired bootstrap; see :mod:`hpo.stats.significance`).

    ``min_gain`` is the smallest difference, in the metric's units, worth a WIN (smaller sure gains
    are MARGINAL); an explicit ``min_gain: 0`` makes any sure gain a WIN.
    """

    min_gain: float = Field(DEFAULT_MIN_GAIN, ge=0)
    confidence: float = Field(0.95, gt=0, lt=1)
    resamples: int = Field(10_000, ge=100)


def _check_prices(value: dict[str, float]) -> dict[str, float]:
    for device, price in value.items():
        if not device.strip():
            raise ValueError("a device name must not be empty")
        if not price >= 0:  # true/false, text, inf and nan never get here (Strict)
            raise ValueError(f"{device}: dollars per hour must be a number >= 0 (got {price!r})")
    return value


class StudyConfig(Strict):
    """A whole study: what to tune, on which data, how to search and how long."""

    study_name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    objective: str  # a task name in objectives.registry; checked when the config is read
    data: DataConfig
    metric: str | None = None
    direction: Literal["maximize", "minimize"] = "maximize"
    search_space: SearchSpace
    evaluation: EvaluationConfig
    sampler: SamplerConfig = Field(TPESamplerConfig(type="tpe"), discriminator="type")
    pruner: PrunerConfig = Field(MedianPrunerConfig(type="median"), discriminator="type")
    budget: BudgetConfig
    fault_tolerance: FaultToleranceConfig = FaultToleranceConfig()
    warm_start: WarmStartConfig = WarmStartConfig()
    seed: int = Field(42, ge=0, le=MAX_SEED)
    precision: Literal["auto", "fp32"] = "auto"
    trust_remote_code: bool = False
    significance: SignificanceConfig = SignificanceConfig()
    cost: dict[str, float] = Field(default_factory=dict)  # dollars per device-hour, by device type (or cpu)

    @field_validator("cost")
    @classmethod
    def _check_cost(cls, value: dict[str, float]) -> dict[str, float]:
        return _check_prices(value)

    @model_validator(mode="after")
    def _check_warm_start(self) -> StudyConfig:
        warm = len(self.warm_start_trials()) + self.warm_start.default_recipe
        if warm > self.budget.n_trials:
            raise ValueError(f"warm_start gives {warm} trials but budget.n_trials is {self.budget.n_trials}")
        return self

    @model_validator(mode="after")
    def _check_max_cost(self) -> StudyConfig:
        if self.budget.max_cost is not None and not self.cost:
            raise ValueError("budget.max_cost needs prices: set cost (dollars per hour by device, e.g. {A10G: 1.10})")
        return self

    def warm_start_trials(self) -> list[dict[str, Any]]:
        """The fixed Optuna params of each warm-start trial, in the order they run."""
        trials = []
        models = self.search_space.searched_params().get("model")
        for i, recipe in enumerate(self.warm_start.recipes):
            params = self.search_space.recipe_params(recipe, f"warm_start.recipes[{i}]")
            if self.warm_start.each_model and models is not None and "model" not in params:
                trials += [{"model": m, **params} for m in models.values()]
            else:
                trials.append(params)
        return trials

    def remote_code_models(self) -> list[str]:
        """The models this config loads: the searched base models and the dense miner's model."""
        miner = self.search_space.hard_negatives.miner_model
        return [*self.search_space.searched_models(), *([miner] if miner else [])]

    def check_remote_code(self, consent: RemoteCodeConsent, models: list[str] | None = None) -> None:
        """Refuse to go on when the config asks for model code from the Hub and the consent given to this
        process does not name every model it will load (``models``; by default the config's).

        The config may come from a study that anyone with storage access can write; running remote
        code is the decision of whoever starts the process (``--trust-remote-code MODEL[,MODEL]``).
        """
        if not self.trust_remote_code:
            return
        refused = consent.refused(self.remote_code_models() if models is None else models)
        if refused:
            wider = ",".join([*sorted(consent.models), *refused])
            raise UsageError(
                f"study '{self.study_name}' asks to run model code from the Hub (trust_remote_code: true) for "
                f"{', '.join(refused)}, which --trust-remote-code does not name; "
                f"if you trust it, run again with --trust-remote-code {wider}"
            )

    @property
    def metric_name(self) -> str:
        """The metric; its default is set by the task when the config is read (hpo.store.config_file)."""
        if self.metric is None:
            raise ValueError("the config's metric is not set; read configs with hpo.store.config_file")
        return self.metric


def format_validation_error(exc: ValidationError) -> str:
    """One line for the first error: dotted key, message, and the offending value."""
    error = exc.errors(include_url=False)[0]
    parts = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    if len(parts) > 1 and parts[0] in {"sampler", "pruner"} and parts[1] in _UNION_TAGS:
        del parts[1]  # pydantic puts the union member's tag ('median', ...) into the location
    loc = ".".join(parts)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "missing required key"
    elif error["type"] not in {"value_error", "assertion_error"} and "input" in error:
        value = error["input"]
        if not isinstance(value, (dict, list)):
            message += f" (got {value!r})"
    return f"{loc}: {message}" if loc else message
