"""Create and load studies: the study stores its config and data fingerprint, and its trial budget.

The budget is enqueued as WAITING trials when the study is created. A worker only runs trials it
takes from that queue (an atomic WAITING -> RUNNING update in the storage), so any number of
workers together never run more trials than the study asks for. Creation is all-or-nothing: the
last write marks the study complete, and a study without the mark is never run.
"""

from __future__ import annotations

import difflib
import logging
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo import __version__, attrs
from hpo.errors import ConfigError, StudyError
from hpo.settings.config import StudyConfig
from hpo.store.config_file import parse_config
from hpo.store.storage import Storage

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredStudy:
    """A study with the config and data fingerprint it was created with, and the storage it lives in."""

    storage: Storage
    study: optuna.Study
    config: StudyConfig
    fingerprint: str


def create_study(
    config: StudyConfig,
    fingerprint: str,
    data_summary: dict[str, Any],
    storage: Storage,
    load_if_exists: bool = False,
) -> str:
    """Create the study (or accept an identical existing one) and enqueue its trial budget.

    A study left half-created by an interrupted ``create-study`` is removed and created again.
    """
    import optuna

    name = config.study_name
    if name in storage.study_names():
        if half_created(optuna.load_study(study_name=name, storage=storage.backend)):
            logger.warning("removing study '%s': an interrupted create-study left it half-created", name)
            optuna.delete_study(study_name=name, storage=storage.backend)
        else:
            _check_existing(load_stored_study(storage, name), config, fingerprint, load_if_exists)
            return name
    try:
        study = optuna.create_study(study_name=name, storage=storage.backend, direction=config.direction)
    except optuna.exceptions.DuplicatedStudyError:  # created by someone else since we looked
        raise StudyError(f"study '{name}' already exists in {storage.url}") from None
    try:
        with warnings.catch_warnings():  # experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.metric_name])  # the dashboard's axis label
        study.set_user_attr(attrs.CONFIG, config.model_dump(mode="json"))
        study.set_user_attr(attrs.FINGERPRINT, fingerprint)
        study.set_user_attr(attrs.DATA_SUMMARY, data_summary)
        study.set_user_attr(attrs.VERSION, __version__)
        for params, marks in queued_trials(config):
            study.enqueue_trial(params, user_attrs=marks)
        study.set_user_attr(attrs.COMPLETE, True)  # last: workers run only marked studies
    except BaseException:  # Ctrl-C included; a SIGKILL leaves no complete mark instead
        optuna.delete_study(study_name=name, storage=storage.backend)
        raise
    return name


def queued_trials(config: StudyConfig) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The budget as queued trials (params, marks): the default recipe and known recipes first,
    then trials the sampler draws. ValueError when the default recipe cannot run in the space."""
    queue: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    if config.warm_start.default_recipe:
        queue.append((default_recipe_params(config), {attrs.WARM_START: True, attrs.DEFAULT_RECIPE: True}))
    queue += [(params, {attrs.WARM_START: True}) for params in config.warm_start_trials()]
    return queue + [({}, None)] * (config.budget.n_trials - len(queue))


def queue_more_trials(study: optuna.Study, n: int) -> None:
    """Queue ``n`` more sampled search trials beyond the config's budget: what ``hpo tune`` does when
    its trials ran faster than planned and the budget has room for more."""
    for _ in range(n):
        study.enqueue_trial({})


def default_recipe_params(config: StudyConfig) -> dict[str, Any]:
    """The Optuna params of the task's default recipe with the study's first candidate model."""
    from hpo.training.recipe import default_recipe, recipe_trial_params
    from objectives.registry import get_task

    space = config.search_space
    return recipe_trial_params(default_recipe(get_task(config.objective)), space, space.searched_models()[0])


def _check_existing(existing: StoredStudy, config: StudyConfig, fingerprint: str, load_if_exists: bool) -> None:
    name = config.study_name
    if not load_if_exists:
        raise StudyError(
            f"study '{name}' already exists in {existing.storage.url} "
            "(use --load-if-exists to reuse it, or --name to create another)"
        )
    if existing.config != config:
        raise StudyError(f"study '{name}' exists with a different config; use --name to create another")
    if existing.fingerprint != fingerprint:
        raise StudyError(f"study '{name}' exists with different data ({existing.fingerprint[:19]}...)")


def half_created(study: optuna.Study) -> bool:
    """Whether an interrupted create-study left this study: created, but not marked complete.

    A study with neither hpo's config nor any attribute or trial is the empty husk left when the
    process stopped right after creating it. Studies from before the mark count as complete when
    their whole budget is queued.
    """
    stored = study.user_attrs
    if stored.get(attrs.COMPLETE):
        return False
    trials = len(study.get_trials(deepcopy=False))
    if attrs.CONFIG not in stored:
        return not stored and trials == 0
    budget = stored[attrs.CONFIG].get("budget", {}).get("n_trials", 0) if isinstance(stored[attrs.CONFIG], dict) else 0
    return trials < budget


def load_stored_study(storage: Storage, name: str) -> StoredStudy:
    """The study ``name`` and its stored config; a clear error when it is missing, not ours, or half-created."""
    import optuna

    names = storage.study_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = f" (studies: {', '.join(sorted(names))})" if names and not close else ""
        raise StudyError(f"study '{name}' not found in {storage.url}{hint}{listing}")
    study = optuna.load_study(study_name=name, storage=storage.backend)
    if half_created(study):
        raise StudyError(
            f"study '{name}' is half-created (its create-study was interrupted); "
            "run the same create-study again to finish it"
        )
    stored = study.user_attrs
    if attrs.CONFIG not in stored:
        raise StudyError(f"study '{name}' was not created by hpo create-study (it has no stored config)")
    try:
        config = parse_config(stored[attrs.CONFIG], source="stored config")
    except ConfigError as exc:
        raise StudyError(f"study '{name}': stored config is not valid for hpo {__version__}: {exc}") from None
    return StoredStudy(storage, study, config, str(stored.get(attrs.FINGERPRINT, "")))


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

    from hpo.store.pruners import latest_value_pruner

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
