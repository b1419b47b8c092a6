"""``hpo train``: retrain from an exported best-trial YAML, test on the held-out split, save the model.

No study is needed: the YAML carries the whole config and the resolved hyperparameters. The test
split, never seen by the search, is scored here, next to each base model zero-shot.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.config import StudyConfig
from hpo.data.fingerprint import fingerprint
from hpo.errors import HpoError, UsageError
from hpo.evaluation import Evaluation, FinalReport, evaluate_model
from hpo.export import ExportedBest, read_best_file
from hpo.model_card import write_card_section
from hpo.training.models import check_model_reference

logger = logging.getLogger(__name__)
SPLITS = ("train", "dev")


@dataclass(frozen=True)
class BestRecipe:
    """What ``hpo best`` exported, read and checked: the config and the whole document."""

    config: StudyConfig
    document: ExportedBest

    @property
    def trial_value(self) -> float | None:
        return None if self.document.metric is None else self.document.metric.value


def load_best(path: Path) -> BestRecipe:
    """Read an exported best-trial YAML; a clear one-line error when it is not a valid one."""
    document, config = read_best_file(path)
    return BestRecipe(config=config, document=document)


def parse_splits(value: str) -> tuple[str, ...]:
    splits = tuple(s.strip() for s in value.split(",") if s.strip())
    unknown = [s for s in splits if s not in SPLITS]
    if "train" not in splits or unknown:
        raise UsageError(f"--splits '{value}': use 'train' or 'train,dev' (the test split is never trained on)")
    return splits


def check_can_push(repo: str) -> None:
    """Fail before any training when the Hub cannot be reached or no token is set."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        raise UsageError(f"--push-to-hub {repo}: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)")
    from huggingface_hub import get_token

    if get_token() is None:
        raise UsageError(f"--push-to-hub {repo}: no Hugging Face token; run 'hf auth login' or set HF_TOKEN")


def check_output_dir(output_dir: Path) -> None:
    """The model folder must be new or empty, under a folder (not a file)."""
    parent = output_dir.parent
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"-o {output_dir}: is a file; give a folder for the model")
    if output_dir.exists() and any(output_dir.iterdir()):
        raise UsageError(f"output folder {output_dir} is not empty; choose another or remove it")
    for folder in (parent, *parent.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(f"-o {output_dir}: {folder} is a file, not a folder")
            break


def train_final(
    recipe: BestRecipe,
    output_dir: Path,
    splits: tuple[str, ...] = ("train",),
    push_to_hub: str | None = None,
    compare: tuple[str, ...] = (),
    trust_remote_code: bool = False,
) -> FinalReport:
    """Retrain ``recipe`` on ``splits``, score it on dev and test, save it with its card."""
    from hpo.training.result import NullReporter
    from hpo.training.run import run_training
    from objectives.registry import get_task

    recipe.config.check_remote_code(trust_remote_code)
    check_output_dir(output_dir)
    for model_name in compare:
        check_model_reference(model_name, "--compare")
    if push_to_hub is not None:
        check_can_push(push_to_hub)
    config = recipe.config
    task = get_task(config.objective)
    data = task.load_data(config, include_test=True)
    expected = recipe.document.data_fingerprint
    if expected and fingerprint(data) != expected:
        logger.warning("the data differs from the data the search ran on; the scores are not comparable")
    train_data = task.with_dev_in_training(data) if "dev" in splits else data
    result, model = run_training(task, recipe.document.training, train_data, config, NullReporter(), keep_model=True)
    if model is None:
        raise HpoError("the training run returned no model")
    dev = Evaluation(
        model="tuned",
        split="dev" if "dev" not in splits else "dev (trained on)",
        value=result.value,
        metric_key=result.metric_key,
        metrics=result.metrics,
        corpus=result.eval_corpus,
        seconds=result.eval_seconds,
    )
    test = evaluate_model(model, task, config, data, "test", name="tuned") if data.has_test else None
    baselines = []
    if data.has_test:
        for base in (*config.search_space.searched_models(), *compare):
            baselines.append(evaluate_model(base, task, config, data, "test", name=f"{base} (zero-shot)"))
    report = FinalReport(output_dir, splits, dev, test, baselines, recipe.trial_value)
    _save(model, recipe, report, result.mining.user_attrs() if result.mining is not None else {})
    if push_to_hub is not None:
        try:
            model.push_to_hub(push_to_hub)
        except Exception as exc:
            raise HpoError(f"--push-to-hub {push_to_hub}: {str(exc).splitlines()[0]}") from exc
    return report


def _save(model: Any, recipe: BestRecipe, report: FinalReport, extra: dict[str, Any] | None = None) -> None:
    """Write the model to a new sibling folder first and rename it: never a half-written model folder.

    ``extra`` joins the hpo_final.json record (what mining hard negatives cost the retraining).
    """
    output_dir = report.output_dir
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.partial-", dir=output_dir.parent))
    try:
        model.save(str(partial))
        write_card_section(partial / "README.md", recipe.document, recipe.config, report)
        record = {**report_dict(recipe, report), **(extra or {})}
        (partial / "hpo_final.json").write_text(json.dumps(record, indent=2) + "\n")
        if output_dir.exists():
            output_dir.rmdir()  # checked empty before training
        partial.rename(output_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def report_dict(recipe: BestRecipe, report: FinalReport) -> dict[str, Any]:
    return {
        "study": recipe.document.study,
        "trial": recipe.document.trial.number,
        "trial_dev_value": report.trial_value,
        "trained_on": list(report.splits),
        "training": recipe.document.training.to_dict(),
        "dev": report.dev.to_dict(),
        "test": report.test.to_dict() if report.test else None,
        "baselines_test": {b.model: b.to_dict() for b in report.baselines},
    }
