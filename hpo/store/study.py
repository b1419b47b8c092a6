"""Create and load studies: the study stores its config and data fingerprint, and its trial budget.

The budget is enqueued as WAITING trials when the study is created. A worker only runs trials it
takes from that queue (an atomic WAITING -> RUNNING update in the storage), so any number of
workers together never run more trials than the study asks for. Creation is all-or-nothing: the
last write marks the study complete, and a study without the mark is never run. The budget is
queued in bulk (:mod:`hpo.store.bulk_enqueue`), under the creator's lease
(:mod:`hpo.store.creation_lease`), which tells a study being written from a half-created one.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import time
import warnings
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hpo import __version__, attrs
from hpo.errors import ConfigError, StudyError
from hpo.settings.config import StudyConfig
from hpo.store.config_file import check_config_digest, config_digest, parse_config
from hpo.store.storage import Storage

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)

CREATE_ATTEMPTS = 3  # times a create-study starts over when another took its study over
POLL_SECONDS = 0.5  # how often a create-study looks at a study another is writing
HUSK_GRACE = 5.0  # seconds an empty study is given for its creator's lease to appear


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

    A study that another create-study is writing is waited for; one that an interrupted
    create-study left half-created is removed and created again (:mod:`hpo.store.creation_lease`).
    """
    from hpo.store.creation_lease import LeaseLostError

    name = config.study_name
    check_study_name(name)
    for _ in range(CREATE_ATTEMPTS):
        if _settle_existing(storage, name):
            _check_existing(load_stored_study(storage, name), config, fingerprint, load_if_exists)
            return name
        try:
            _write_study(config, fingerprint, data_summary, storage)
            return name
        except LeaseLostError as lost:
            logger.warning("study '%s': %s; looking at it again", name, lost)
    raise StudyError(f"study '{name}': other create-study runs kept taking it over; run create-study again")


def check_study_name(name: str) -> None:
    """Refuse a name longer than the storage's ``study_name`` column (Optuna's indexed string length)."""
    from optuna.storages._rdb.models import MAX_INDEXED_STRING_LENGTH

    if len(name) > MAX_INDEXED_STRING_LENGTH:
        raise StudyError(
            f"study name is {len(name)} characters long; the storage allows at most {MAX_INDEXED_STRING_LENGTH} "
            "(give a shorter study_name or --name)"
        )


def _settle_existing(storage: Storage, name: str) -> bool:
    """Whether a complete study ``name`` exists, once any create-study still writing it has finished.

    A half-created study is removed (False); a husk with no lease yet is given HUSK_GRACE_SECONDS
    for its creator's lease to appear.
    """
    from hpo.store.creation_lease import HALF_CREATED, HUSK, WRITING, creation_state

    backend = storage.backend
    husk_since: float | None = None
    announced = False
    while name in storage.study_names():
        try:
            study_id = backend.get_study_id_from_name(name)
            state, lease = creation_state(backend, study_id)
        except KeyError:  # removed since we listed it
            continue
        if state == HUSK and husk_since is None:
            husk_since = time.monotonic()
        if state == WRITING or (state == HUSK and time.monotonic() - (husk_since or 0.0) < HUSK_GRACE):
            if lease is not None and not announced:
                logger.info("study '%s' is being created by %s; waiting for it", name, lease.describe())
                announced = True
            time.sleep(POLL_SECONDS)
            continue
        if state not in (HUSK, HALF_CREATED):
            return True
        logger.warning("removing study '%s': an interrupted create-study left it half-created", name)
        with contextlib.suppress(KeyError):  # another create-study removed it first
            backend.delete_study(study_id)
        return False
    return False


def _write_study(config: StudyConfig, fingerprint: str, data_summary: dict[str, Any], storage: Storage) -> None:
    """Create the study under this process's lease, queue its budget, and mark it complete (last).

    LeaseLostError when another create-study created it first or took it over; on any other failure,
    Ctrl-C included, the study is removed if it is still ours (a SIGKILL leaves no mark instead).
    """
    import optuna

    from hpo.store.bulk_enqueue import StudyGoneError, enqueue_trials
    from hpo.store.creation_lease import LeaseHolder, LeaseLostError
    from hpo.store.retrying_storage import RetryingRDBStorage

    backend = storage.backend
    if isinstance(backend, RetryingRDBStorage):
        backend.outage_seconds = config.fault_tolerance.db_outage_seconds
    try:
        study = optuna.create_study(study_name=config.study_name, storage=backend, direction=config.direction)
    except optuna.exceptions.DuplicatedStudyError:
        raise LeaseLostError("another create-study created it first") from None
    study_id = backend.get_study_id_from_name(config.study_name)
    lease = LeaseHolder(backend, study_id)
    lease.take()
    try:
        with warnings.catch_warnings():  # experimental since Optuna 3.2
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.metric_name])  # the dashboard's axis label
        stored_config = config.model_dump(mode="json")
        study.set_user_attr(attrs.CONFIG, stored_config)
        study.set_user_attr(attrs.CONFIG_DIGEST, config_digest(stored_config))
        study.set_user_attr(attrs.FINGERPRINT, fingerprint)
        study.set_user_attr(attrs.DATA_SUMMARY, data_summary)
        study.set_user_attr(attrs.VERSION, __version__)
        lease.beat()
        enqueue_trials(study, backend, queued_trials(config), 0, guard=lease.guard, after_batch=lease.beat)
        lease.check()
        study.set_user_attr(attrs.COMPLETE, True)  # last: workers run only marked studies
    except (LeaseLostError, StudyGoneError) as lost:
        raise LeaseLostError(str(lost)) from None
    except BaseException:
        if lease.is_ours():
            backend.delete_study(study_id)
        raise


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
    """Whether an interrupted create-study left this study: created, its creator gone, not marked complete."""
    from hpo.store.creation_lease import HALF_CREATED, HUSK, creation_state

    return creation_state(study._storage, study._study_id)[0] in (HALF_CREATED, HUSK)


def load_stored_study(storage: Storage, name: str) -> StoredStudy:
    """The study ``name`` and its stored config; a clear error when it is missing, not ours, or half-created."""
    import optuna

    from hpo.store.creation_lease import HALF_CREATED, HUSK, WRITING, creation_state

    names = storage.study_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        listing = f" (studies: {', '.join(sorted(names))})" if names and not close else ""
        raise StudyError(f"study '{name}' not found in {storage.url}{hint}{listing}")
    study = optuna.load_study(study_name=name, storage=storage.backend)
    state, lease = creation_state(storage.backend, storage.backend.get_study_id_from_name(name))
    if state == WRITING and lease is not None:
        raise StudyError(
            f"study '{name}' is still being created (by create-study, {lease.describe()}); "
            "start workers once it has finished"
        )
    if state in (HALF_CREATED, HUSK):
        raise StudyError(
            f"study '{name}' is half-created (its create-study was interrupted); "
            "run the same create-study again to finish it"
        )
    stored = study.user_attrs
    if attrs.CONFIG not in stored:
        raise StudyError(f"study '{name}' was not created by hpo create-study (it has no stored config)")
    check_config_digest(name, stored[attrs.CONFIG], stored.get(attrs.CONFIG_DIGEST))
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
