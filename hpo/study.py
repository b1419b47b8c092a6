"""Create and load studies: the study stores its config and data fingerprint, and its trial budget.

The budget is enqueued as WAITING trials when the study is created. A worker only runs trials it
takes from that queue (an atomic WAITING -> RUNNING update in the storage), so any number of
workers together never run more trials than the study asks for.
"""

from __future__ import annotations

import difflib
import logging
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from hpo import __version__
from hpo.config import StudyConfig, format_validation_error
from hpo.errors import StudyError
from hpo.notes import update_study_note
from hpo.storage import redact

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

CONFIG_ATTR = "hpo_config"
FINGERPRINT_ATTR = "hpo_data_fingerprint"
DATA_SUMMARY_ATTR = "hpo_data_summary"
VERSION_ATTR = "hpo_version"


@dataclass(frozen=True)
class StoredStudy:
    """A study with the config and data fingerprint it was created with."""

    study: optuna.Study
    config: StudyConfig
    fingerprint: str


def create_study(
    config: StudyConfig,
    fingerprint: str,
    data_summary: dict[str, Any],
    storage: optuna.storages.BaseStorage,
    storage_url: str,
    load_if_exists: bool = False,
) -> str:
    """Create the study (or accept an identical existing one) and enqueue its trial budget."""
    import optuna

    name = config.study_name
    if name in _study_names(storage):
        existing = load_stored_study(storage, storage_url, name)
        if not load_if_exists:
            raise StudyError(
                f"study '{name}' already exists in {redact(storage_url)} "
                "(use --load-if-exists to reuse it, or --name to create another)"
            )
        if existing.config != config:
            raise StudyError(f"study '{name}' exists with a different config; use --name to create another")
        if existing.fingerprint != fingerprint:
            raise StudyError(f"study '{name}' exists with different data ({existing.fingerprint[:19]}...)")
        return name
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction=config.direction)
    except optuna.exceptions.DuplicatedStudyError:  # created by someone else since we looked
        raise StudyError(f"study '{name}' already exists in {redact(storage_url)}") from None
    try:
        with warnings.catch_warnings():  # experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.metric_name])  # the dashboard's axis label
        study.set_user_attr(CONFIG_ATTR, config.model_dump(mode="json"))
        study.set_user_attr(FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr(DATA_SUMMARY_ATTR, data_summary)
        study.set_user_attr(VERSION_ATTR, __version__)
        warm = config.warm_start_trials()  # known recipes first, then sampled trials
        for params in [*warm, *[{}] * (config.budget.n_trials - len(warm))]:
            study.enqueue_trial(params, user_attrs={"warm_start": True} if params else None)
    except BaseException:
        optuna.delete_study(study_name=name, storage=storage)
        raise
    update_study_note(study, config)
    return name


def load_stored_study(storage: optuna.storages.BaseStorage, storage_url: str, name: str) -> StoredStudy:
    """The study ``name`` and its stored config; a clear error when it is missing or not ours."""
    import optuna

    names = _study_names(storage)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = f" (studies: {', '.join(sorted(names))})" if names and not close else ""
        raise StudyError(f"study '{name}' not found in {redact(storage_url)}{hint}{listing}")
    study = optuna.load_study(study_name=name, storage=storage)
    attrs = study.user_attrs
    if CONFIG_ATTR not in attrs:
        raise StudyError(f"study '{name}' was not created by hpo create-study (it has no stored config)")
    try:
        config = StudyConfig.model_validate(attrs[CONFIG_ATTR])
    except ValidationError as exc:
        raise StudyError(
            f"study '{name}': stored config is not valid for hpo {__version__}: {format_validation_error(exc)}"
        ) from None
    return StoredStudy(study=study, config=config, fingerprint=str(attrs.get(FINGERPRINT_ATTR, "")))


def build_sampler(config: StudyConfig, trial_number: int) -> optuna.samplers.BaseSampler:
    """The config's sampler for one trial, seeded from the study's seed and the trial number.

    Trial N draws the same parameters from the same history whichever worker runs it, so a study
    is reproducible, and concurrent workers still differ because their trials' numbers differ.
    """
    import optuna

    seed = zlib.crc32(f"{config.seed}:{trial_number}".encode())
    sampler = config.sampler
    if sampler.type == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(
        n_startup_trials=sampler.n_startup_trials, multivariate=sampler.multivariate, seed=seed
    )


def build_pruner(config: StudyConfig) -> optuna.pruners.BasePruner:
    """The config's pruner; steps are training samples seen."""
    import optuna

    from hpo.pruners import latest_value_pruner

    pruner = config.pruner
    if pruner.type in ("median", "percentile"):
        percentile = 50.0 if pruner.type == "median" else pruner.percentile
        if pruner.compare == "latest":
            return latest_value_pruner(percentile, pruner.n_startup_trials, pruner.n_warmup_steps)
        if pruner.type == "median":
            return optuna.pruners.MedianPruner(
                n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.n_warmup_steps
            )
        return optuna.pruners.PercentilePruner(
            percentile, n_startup_trials=pruner.n_startup_trials, n_warmup_steps=pruner.n_warmup_steps
        )
    if pruner.type == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=pruner.min_resource, reduction_factor=pruner.reduction_factor
        )
    return optuna.pruners.NopPruner()


def _study_names(storage: optuna.storages.BaseStorage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies()]


def create_study_from_file(
    config_path: str,
    storage_url: str,
    name: str | None = None,
    load_if_exists: bool = False,
) -> str:
    """Validate a config file and its data (test split included), then create the study.

    Nothing is written to the storage unless every check passes.
    """
    from hpo.config import load_config
    from hpo.data import load_data
    from hpo.data.model import fingerprint
    from hpo.storage import open_storage

    config = load_config(config_path)
    if name is not None:
        config = config.model_validate({**config.model_dump(mode="json"), "study_name": name})
    data = load_data(config, include_test=True)
    _check_schedule(config, data.summary())
    logger.info("data: %s", data.summary())
    storage = open_storage(storage_url)
    return create_study(config, fingerprint(data), data.summary(), storage, storage_url, load_if_exists)


def _check_schedule(config: StudyConfig, summary: dict[str, Any]) -> None:
    every = config.evaluation.every_samples
    largest_batch = max(int(v) for v in config.search_space.batch_size.values() if v is not None)
    if every < largest_batch:
        raise StudyError(
            f"evaluation.every_samples ({every}) is smaller than the largest batch_size "
            f"({largest_batch}); evaluations would be skipped for large batches"
        )
    if every > summary["train_pairs"]:
        raise StudyError(
            f"evaluation.every_samples ({every}) exceeds the {summary['train_pairs']} training "
            "samples of one epoch; no intermediate evaluation would happen in the first epoch"
        )
