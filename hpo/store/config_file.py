"""Read a study config: YAML at the edge, the typed models of :mod:`hpo.settings.config`, then its task's rules.

Every error is one line naming the file (or what the mapping came from), the key, the bad value
and what is allowed; nothing else of hpo sees a raw dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hpo.errors import ConfigError
from hpo.settings.config import StudyConfig, format_validation_error
from hpo.settings.yaml_file import read_yaml_file
from objectives.registry import TASKS


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
