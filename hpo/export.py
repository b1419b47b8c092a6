"""Export the best trial as a self-contained YAML: enough to retrain without the study."""

from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from hpo.errors import StudyError
from hpo.study import FINGERPRINT_ATTR, StoredStudy

LIBRARIES = ("hpo", "optuna", "sentence-transformers", "transformers", "torch", "datasets")


def best_trial_document(stored: StoredStudy) -> dict[str, Any]:
    """The best COMPLETE trial: metric, params, resolved training config, provenance, versions."""
    import optuna

    study, config = stored.study, stored.config
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise StudyError(
            f"study '{study.study_name}' has no complete trial yet (run: hpo worker --study {study.study_name})"
        )
    best = study.best_trial
    attrs = best.user_attrs
    return {
        "study": study.study_name,
        "objective": config.objective,
        "metric": {
            "name": config.metric_name,
            "key": attrs.get("metric_key"),
            "value": best.value,
            "direction": config.direction,
            "split": "dev",
            "eval_corpus": attrs.get("eval_corpus"),
        },
        "trial": {
            "number": best.number,
            "samples_seen": attrs.get("samples_seen"),
            "started": _iso(best.datetime_start),
            "completed": _iso(best.datetime_complete),
            "complete_trials_in_study": len(complete),
        },
        "params": dict(best.params),
        "training": attrs["training"],
        "metrics": attrs.get("metrics", {}),
        "config": config.model_dump(mode="json"),
        "data_fingerprint": study.user_attrs.get(FINGERPRINT_ATTR),
        "versions": library_versions(),
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_yaml(document: dict[str, Any], path: Path | None) -> str:
    """Dump ``document`` as YAML to ``path`` (when given) and return the text."""
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)  # never leave a half-written file behind
    return text


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
