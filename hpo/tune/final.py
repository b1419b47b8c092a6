"""The end of a tune: the winner retrained and tested against each zero-shot candidate and against
the task's default recipe (retrained and tested the same way), each with a verdict.

Writes ``best.yaml`` (the winner: the confirmed one when confirmation ran), ``model/`` (the tuned
model with its card), ``default-recipe.yaml`` and ``default-recipe/`` (the default recipe's model),
and ``report.md``. A resumed run reuses a model folder that is already there.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.errors import StudyError

if TYPE_CHECKING:
    from hpo.results.evaluation import FinalReport
    from hpo.results.export import ExportedBest
    from hpo.store.study import StoredStudy
    from hpo.tune.request import TuneRequest
    from hpo.verdicts.paired import VerdictRow

logger = logging.getLogger(__name__)


def final_phase(stored: StoredStudy, request: TuneRequest, confirmed: bool) -> tuple[FinalReport, list[str]]:
    """Retrain and test the winner and the default recipe; the tuned model's report and the verdict lines."""
    from hpo.results.export import best_trial_document
    from hpo.results.selection import export_document

    out = request.output
    try:
        winner = export_document(stored, confirmed=True) if confirmed else best_trial_document(stored)
    except StudyError as exc:
        logger.warning("confirmation gave no winner (%s); exporting the best search trial", exc)
        winner = best_trial_document(stored)
    tuned = _retrain(stored, winner, out / "best.yaml", out / "model", request)
    lines = [row.describe() for row in tuned.verdicts]
    recipe = _default_recipe_trial(stored)
    if recipe is None:
        lines.append("default recipe: no complete trial of it in the study; no verdict")
    elif recipe.number == winner.trial.number:
        lines.append(f"default recipe: it was the winner (trial {recipe.number}); the search found nothing better")
    else:
        document = best_trial_document(stored, recipe, "the task's default recipe")
        reference = _retrain(stored, document, out / "default-recipe.yaml", out / "default-recipe", request)
        lines += [row.describe() for row in recipe_verdicts(stored, tuned, reference)]
    return tuned, lines


def final_table(report: FinalReport, objective: str) -> str:
    """The table ``hpo train`` prints: each zero-shot candidate and the tuned model, on test and dev."""
    from hpo.results.dimensions import rows_by_dimension
    from hpo.results.evaluation import format_table

    return format_table(objective, rows_by_dimension(report.rows()))


def recipe_verdicts(stored: StoredStudy, tuned: FinalReport, recipe: FinalReport) -> list[VerdictRow]:
    """The tuned model against the default recipe's model, on dev and on test."""
    from hpo.verdicts.paired import verdict_row
    from objectives.registry import get_task

    task, config = get_task(stored.config.objective), stored.config
    rows = [
        verdict_row(
            task, config, ("tuned", tuned.dev.items), ("default recipe", recipe.dev.items), "dev", tuned.dev.corpus
        )
    ]
    if tuned.test is not None and recipe.test is not None:
        candidate, reference = ("tuned", tuned.test.items), ("default recipe", recipe.test.items)
        rows.append(verdict_row(task, config, candidate, reference, "test", tuned.test.corpus))
    return rows


def _retrain(
    stored: StoredStudy, document: ExportedBest, yaml_path: Path, model_dir: Path, request: TuneRequest
) -> FinalReport:
    """Write ``document``, retrain it into ``model_dir`` and test it (or read the report a resumed run left)."""
    from hpo.results.export import write_yaml
    from hpo.results.final import load_best, read_report, train_final
    from objectives.registry import get_task

    write_yaml(document, yaml_path, force=True)
    if (model_dir / "hpo_final.json").is_file():
        logger.info("%s exists: reusing it", model_dir)
        return read_report(model_dir, get_task(stored.config.objective), stored.config)
    return train_final(load_best(yaml_path), model_dir, trust_remote_code=request.trust_remote_code)


def _default_recipe_trial(stored: StoredStudy) -> Any:
    from hpo.store.trial_kinds import ranked_complete

    ranked = ranked_complete(stored.study.get_trials(deepcopy=False), stored.config.direction)
    return next((t for t in ranked if t.user_attrs.get(attrs.DEFAULT_RECIPE)), None)
