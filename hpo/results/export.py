"""The best-trial YAML: its typed model, built from a study, written safely, and read back.

The file is self-contained: ``hpo train`` retrains from it with no study. A hand-edited file is
read through the same model as an exported one, so a bad value is a one-line error, not a
failure deep inside the trainer.
"""

from __future__ import annotations

import logging
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import Field, ValidationError

from hpo import attrs
from hpo.errors import ConfigError, StudyError, UsageError
from hpo.settings.config import StudyConfig, format_validation_error
from hpo.settings.schema import Strict
from hpo.settings.space import TrainingParams
from hpo.settings.yaml_file import read_yaml_file
from hpo.stats.significance import threshold_note
from hpo.store.config_file import parse_config
from hpo.store.study import StoredStudy
from hpo.store.trial_kinds import search_trials
from hpo.training.task import ParamKeys

if TYPE_CHECKING:
    import optuna

logger = logging.getLogger(__name__)
LIBRARIES = ("hpo", "optuna", "sentence-transformers", "transformers", "torch", "datasets")
# How the task's rules name the keys of the file's training section.
BEST_FILE_KEYS = ParamKeys(
    "training.loss", "training.loss_params", "training.hard_negatives", "set hard_negatives", suggest=False
)


class MetricRecord(Strict):
    """The metric the search optimised, and the best trial's value of it."""

    name: str
    key: str | None = None
    value: float
    direction: str
    split: str = "dev"
    eval_corpus: str | None = None


class TrialRecord(Strict):
    """Which trial of which study the hyperparameters come from."""

    number: int | None = None
    samples_seen: int | None = None
    started: str | None = None
    completed: str | None = None
    complete_trials_in_study: int | None = None
    device_type: str | None = None
    device_seconds: float | None = None
    cost_usd: float | None = None
    encode_texts_per_second: float | None = None
    embedding_dim: int | None = None


class ExportedBest(Strict):
    """Everything ``hpo best`` exports; ``training`` and ``config`` are what ``hpo train`` needs."""

    study: str | None = None
    objective: str | None = None
    metric: MetricRecord | None = None
    trial: TrialRecord = TrialRecord()
    params: dict[str, Any] = Field(default_factory=dict)
    training: TrainingParams
    metrics: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any]
    data_fingerprint: str | None = None
    versions: dict[str, str] = Field(default_factory=dict)
    exported: str | None = None
    seed: int | None = None  # the trial's training seed; the config's seed when absent
    selected_by: str | None = None  # how the trial was chosen when not as the best (a limit, confirmation)
    significance: list[dict[str, Any]] = Field(default_factory=list)  # dev verdicts: runner-up, baselines
    confirmation: dict[str, Any] | None = None  # hpo confirm's report, when the trial is its winner
    baselines: dict[str, Any] = Field(default_factory=dict)  # hpo baseline's records: hpo train reuses them

    @property
    def training_seed(self) -> int:
        """The seed to retrain with."""
        return self.seed if self.seed is not None else int(self.config.get("seed", 42))

    def describe(self) -> str:
        """What ``hpo best -o`` prints: the trial, its value and its hyperparameters."""
        value = "" if self.metric is None else f": {self.metric.name} = {self.metric.value:.4f}"
        if self.metric is not None and self.metric.eval_corpus:
            value += f" on {self.metric.eval_corpus}"
        head = (
            f"trial {self.trial.number} ({self.selected_by})" if self.selected_by else f"best trial {self.trial.number}"
        )
        lines = [head + value]
        lines += [f"  {key}: {value}" for key, value in self.training.to_dict().items()]
        for row in self.significance:
            if row.get("verdict") is None:
                lines.append(f"verdict: vs {row['reference']}: none ({row.get('reason', '')})")
            else:
                threshold = threshold_note(row["verdict"], row.get("min_gain"))
                lines.append(
                    f"verdict: vs {row['reference']}, dev {row['metric']}: {row['difference']:+.4f} "
                    f"[{row['low']:+.4f}, {row['high']:+.4f}] {row['verdict']}{threshold}"
                )
        return "\n".join(lines)


def best_trial_document(
    stored: StoredStudy,
    pick: optuna.trial.FrozenTrial | None = None,
    selected_by: str | None = None,
    confirmation: dict[str, Any] | None = None,
) -> ExportedBest:
    """The best COMPLETE search trial run by an hpo worker (or ``pick``): metric, params, training
    config, provenance, its verdicts on dev and the study's zero-shot records."""
    from hpo.verdicts.trials import trial_verdicts

    study, config = stored.study, stored.config
    complete = _hpo_trials(study)
    if not complete:
        raise StudyError(
            f"study '{study.study_name}' has no complete trial yet (run: hpo worker --study {study.study_name})"
        )
    sign = 1.0 if config.direction == "maximize" else -1.0
    best = pick or max(complete, key=lambda t: sign * float(t.value or 0.0))
    trial_attrs = best.user_attrs
    return ExportedBest(
        study=study.study_name,
        objective=config.objective,
        metric=MetricRecord(
            name=config.metric_name,
            key=trial_attrs.get(attrs.METRIC_KEY),
            value=float(best.value or 0.0),
            direction=config.direction,
            eval_corpus=trial_attrs.get(attrs.EVAL_CORPUS),
        ),
        trial=TrialRecord(
            number=best.number,
            samples_seen=trial_attrs.get(attrs.SAMPLES_SEEN),
            started=_iso(best.datetime_start),
            completed=_iso(best.datetime_complete),
            complete_trials_in_study=len(complete),
            device_type=trial_attrs.get(attrs.DEVICE_TYPE),
            device_seconds=trial_attrs.get(attrs.DEVICE_SECONDS),
            cost_usd=trial_attrs.get(attrs.COST_USD),
            encode_texts_per_second=trial_attrs.get(attrs.ENCODE_PER_SECOND),
            embedding_dim=trial_attrs.get(attrs.EMBEDDING_DIM),
        ),
        params=dict(best.params),
        training=TrainingParams.from_dict(trial_attrs[attrs.TRAINING]),
        metrics=trial_attrs.get(attrs.METRICS, {}),
        config=set_fields(config),
        data_fingerprint=study.user_attrs.get(attrs.FINGERPRINT),
        versions=library_versions(),
        exported=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        seed=trial_attrs.get(attrs.SEED),
        selected_by=selected_by,
        significance=[row.to_dict() for row in trial_verdicts(study, config, best)],
        confirmation=confirmation,
        baselines=dict(study.user_attrs.get(attrs.BASELINES, {})),
    )


def set_fields(config: StudyConfig) -> dict[str, Any]:
    """The config as the file writes it: only the fields that differ from their defaults.

    Reading it back gives the same config (``hpo train`` and ``create-study`` fill in the rest with
    the defaults of the hpo version in ``versions``), and a reader sees what the study chose
    instead of every unset option as null.
    """
    return config.model_dump(mode="json", exclude_defaults=True)


def _hpo_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """COMPLETE search trials with hpo's record; other Optuna clients' trials cannot be retrained.

    Confirmation runs (``hpo confirm``) are not candidates: ``hpo best --confirmed`` exports their winner.
    """
    import optuna

    complete = search_trials(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
    ours = [t for t in complete if attrs.TRAINING in t.user_attrs and t.value is not None]
    if len(ours) < len(complete):
        logger.warning(
            "ignoring %d complete trials that no hpo worker ran (they have no '%s' record)",
            len(complete) - len(ours),
            attrs.TRAINING,
        )
    return ours


def write_yaml(document: ExportedBest, path: Path | None, force: bool = False) -> str:
    """Dump ``document`` as YAML to ``path`` (when given) and return the text.

    An existing file is replaced only when it is an earlier export of the same study, or with
    ``force``; the file is written under a temporary name and renamed, never half-written.
    """
    text = yaml.safe_dump(document.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    if path is None:
        return text
    if path.exists() and not force and not _earlier_export(path, document.study):
        raise UsageError(f"-o {path}: the file exists and is not an export of this study; use --force to replace it")
    if path.parent.exists() and not path.parent.is_dir():
        raise UsageError(f"-o {path}: {path.parent} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write: {exc.strerror}") from None
    return text


def _earlier_export(path: Path, study: str | None) -> bool:
    try:
        existing = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(existing, dict) and existing.get("study") == study and "training" in existing


def read_best_file(path: Path) -> tuple[ExportedBest, StudyConfig]:
    """Read an exported (or hand-edited) best-trial YAML; one-line errors name the file and key."""
    from objectives.registry import get_task

    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, not an exported best trial")
    raw = read_yaml_file(path, what="file")
    missing = [k for k in ("config", "training") if not isinstance(raw, dict) or k not in raw]
    if missing:
        raise ConfigError(
            f"{path}: not an exported best trial (missing '{missing[0]}'); "
            "export one with: hpo best --study NAME -o best.yaml"
        )
    config = parse_config(raw["config"], source=f"{path}: config")
    try:
        document = ExportedBest.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation_error(exc)}") from None
    try:
        get_task(config.objective).check_params(document.training, BEST_FILE_KEYS)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return document, config


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None
