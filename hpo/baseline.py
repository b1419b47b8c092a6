"""Zero-shot baselines: every candidate base model of a study, scored without fine-tuning.

The results are stored on the study (``hpo_baselines``), where ``hpo status`` and the study's
dashboard note show them next to the search's best trial.
"""

from __future__ import annotations

import logging
from typing import Any

from hpo.data import load_data
from hpo.evaluation import Evaluation, evaluate_model
from hpo.notes import update_study_note
from hpo.study import StoredStudy

logger = logging.getLogger(__name__)

BASELINES_ATTR = "hpo_baselines"


def run_baselines(stored: StoredStudy) -> list[Evaluation]:
    """Score each searched base model on dev (the search's corpus) and test; store them on the study."""
    config = stored.config
    data = load_data(config, include_test=True)
    capped = config.evaluation.final_corpus == "capped"
    results: list[Evaluation] = []
    stored_results: dict[str, Any] = dict(stored.study.user_attrs.get(BASELINES_ATTR, {}))
    for model in config.search_space.searched_models():
        dev = evaluate_model(model, config, data, "dev", capped=capped)
        results.append(dev)
        entry: dict[str, Any] = {"dev": dev.to_dict()}
        if data.test is not None:
            test = evaluate_model(model, config, data, "test")
            results.append(test)
            entry["test"] = test.to_dict()
        stored_results[model] = entry
        stored.study.set_user_attr(BASELINES_ATTR, stored_results)  # after each model: survive a crash
    update_study_note(stored.study, config)
    return results


def stored_baselines(stored: StoredStudy) -> dict[str, Any]:
    baselines: dict[str, Any] = stored.study.user_attrs.get(BASELINES_ATTR, {})
    return baselines
