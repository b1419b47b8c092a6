"""Zero-shot baselines: every candidate base model of a study, scored without fine-tuning.

The results are stored on the study (:data:`hpo.attrs.BASELINES`), where ``hpo status`` and the
study's dashboard note show them next to the search's best trial.
"""

from __future__ import annotations

import logging
from typing import Any

from hpo import attrs
from hpo.results.evaluation import Evaluation, at_dev_thresholds, evaluate_model
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.study import StoredStudy
from hpo.verdicts.notes import update_study_note
from objectives.registry import get_task

logger = logging.getLogger(__name__)


def run_baselines(
    stored: StoredStudy, trust_remote_code: RemoteCodeConsent | None = None, progress: bool = False
) -> list[Evaluation]:
    """Score each searched base model on dev (the search's corpus) and test; store them on the study.

    Each record keeps the score of every item, for verdicts against trials (``hpo status``) and for
    ``hpo train`` to reuse. Pair tasks score test at the thresholds chosen on dev. With ``progress``,
    encodings show a progress bar with an ETA.
    """
    config = stored.config
    config.check_remote_code(trust_remote_code or RemoteCodeConsent())
    task = get_task(config.objective)
    data = task.load_data(config, include_test=True)
    capped = config.evaluation.final_corpus == "capped"
    results: list[Evaluation] = []
    stored_results: dict[str, Any] = dict(stored.study.user_attrs.get(attrs.BASELINES, {}))
    for model in config.search_space.searched_models():
        dev = evaluate_model(model, task, config, data, "dev", capped=capped, progress=progress)
        results.append(dev)
        entry: dict[str, Any] = {"dev": dev.to_dict()}
        if data.has_test:
            test = at_dev_thresholds(task, evaluate_model(model, task, config, data, "test", progress=progress), dev)
            results.append(test)
            entry["test"] = test.to_dict()
        stored_results[model] = entry
        stored.study.set_user_attr(attrs.BASELINES, stored_results)  # after each model: survive a crash
    update_study_note(stored.study, config)
    return results
