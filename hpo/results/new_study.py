"""A new study from a config file: every check that every trial would otherwise fail, then the study.

Nothing is written to the storage unless every check passes: the config, the models it names, the
data (test split included) and the evaluation schedule against that data.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hpo.errors import ConfigError, StudyError
from hpo.settings.config import StudyConfig
from hpo.store.config_file import parse_config
from hpo.store.study import check_study_name, create_study, queued_trials

if TYPE_CHECKING:
    from hpo.store.storage import StorageUrl

logger = logging.getLogger(__name__)


def create_study_from_file(
    config_path: str,
    storage_url: StorageUrl,
    name: str | None = None,
    load_if_exists: bool = False,
    replace: bool = False,
    force: bool = False,
) -> str:
    """Validate a config file and its data (test split included), then create the study.

    Nothing is written to the storage unless every check passes; the dashboard note is written last.
    ``replace``: a study of the same name is deleted first (refused while its trials run, unless ``force``).
    """
    import optuna

    from hpo.data.fingerprint import fingerprint
    from hpo.data.splits import warning_of_dropped_rows
    from hpo.store.config_file import load_config
    from hpo.store.removal import delete_study
    from hpo.store.storage import open_storage
    from hpo.training.models import check_dimensions, check_model_reference, check_models
    from hpo.verdicts.notes import update_study_note
    from objectives.registry import get_task

    config = load_config(config_path)
    if name is not None:
        config = parse_config({**config.model_dump(mode="json"), "study_name": name}, source=f"--name {name}")
    check_study_name(config.study_name)
    space = config.search_space
    lengths = [int(v) for v in space.max_seq_length.values() if isinstance(v, int)]
    check_models(space.searched_models(), lengths)
    if space.hard_negatives.miner_model is not None:  # the dense miner's own model (checked like the base models)
        check_model_reference(space.hard_negatives.miner_model, "search_space.hard_negatives.miner_model")
    check_dimensions(config, config_path)
    try:
        queued_trials(config)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    task = get_task(config.objective)
    with warning_of_dropped_rows():  # said here once; workers, baseline and train log it at DEBUG
        data = task.load_data(config, include_test=True)
    _check_schedule(config, data.train_size())
    try:
        task.check_data(config, data)
    except ValueError as exc:
        raise ConfigError(f"{config_path}: {exc}") from None
    logger.info("data: %s", data.summary())
    storage = open_storage(storage_url, create=True)
    if replace and config.study_name in storage.study_names():
        logger.info("%s; creating it again", delete_study(storage, config.study_name, force, "replace").describe())
    existed = config.study_name in storage.study_names()  # --load-if-exists: its note shows its trials
    created = create_study(config, fingerprint(data), data.summary(), storage, load_if_exists)
    study = optuna.load_study(study_name=created, storage=storage.backend)
    update_study_note(study, config, trials=None if existed else ())  # a new study has no finished trial
    return created


def _check_schedule(config: StudyConfig, train_size: int) -> None:
    every = config.evaluation.every_samples
    largest_batch = max(int(v) for v in config.search_space.batch_size.values() if v is not None)
    if every < largest_batch:
        raise StudyError(
            f"evaluation.every_samples ({every}) is smaller than the largest batch_size "
            f"({largest_batch}); evaluations would be skipped for large batches"
        )
    if every > train_size:
        raise StudyError(
            f"evaluation.every_samples ({every}) exceeds the {train_size} training "
            "samples of one epoch; no intermediate evaluation would happen in the first epoch"
        )
