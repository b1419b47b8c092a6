"""Read a study config: YAML at the edge, the typed models of :mod:`hpo.settings.config`, then its task's rules.

Every error is one line naming the file (or what the mapping came from), the key, the bad value
and what is allowed; nothing else of hpo sees a raw dict.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpo.errors import ConfigError, StudyError
from hpo.settings.config import StudyConfig, format_validation_error
from hpo.settings.yaml_file import read_yaml_file
from objectives.registry import TASKS

logger = logging.getLogger(__name__)


def load_config(path: str | Path) -> StudyConfig:
    """Read and validate a YAML study config; relative data paths resolve against its folder."""
    path = Path(path)
    raw = read_yaml_file(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(raw).__name__}")
    return parse_config(raw, source=str(path), base_dir=path.resolve().parent)


def parse_config(raw: dict[str, Any], source: str, base_dir: Path | None = None) -> StudyConfig:
    """Validate a config mapping and check it against its task; ``source`` names it in errors."""
    context = {"base_dir": str(base_dir)} if base_dir is not None else {}
    try:
        config = StudyConfig.model_validate(raw, context=context)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {format_validation_error(exc)}") from None
    task = TASKS.get(config.objective)
    if task is None:
        names = [f"'{name}'" for name in TASKS]
        allowed = ", ".join(names[:-1]) + f" or {names[-1]}"
        raise ConfigError(f"{source}: objective: Input should be {allowed} (got {config.objective!r})")
    if config.metric is None:
        config = config.model_copy(update={"metric": task.metrics.default})
    try:
        task.check_config(config)
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def config_digest(stored: Any) -> str:
    """The digest of a config as stored (its JSON form): 'sha256:' and the hex of its canonical JSON."""
    canonical = json.dumps(stored, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_config_digest(study_name: str, stored: Any, digest: Any) -> None:
    """Refuse a stored config that differs from the one create-study validated (its digest differs).

    The digest tells a changed config from the validated one (an edit through the storage would
    otherwise start a silent new search); it is no signature: remote code is guarded by the
    consent that names models (--trust-remote-code).
    """
    if digest is None:
        logger.warning(
            "study '%s' has no config digest (created by an older hpo): its stored config cannot be checked",
            study_name,
        )
        return
    found = config_digest(stored)
    if found != digest:
        raise StudyError(
            f"study '{study_name}': its stored config differs from the one create-study validated "
            f"(digest {str(digest)[:19]}..., now {found[:19]}...); it was changed in the storage: "
            "create a new study from the config you mean (hpo create-study)"
        )
