"""``hpo train``: retrain from an exported best-trial YAML, test on the held-out split, save the model.

No study is needed: the YAML carries the whole config and the resolved hyperparameters. The test
split, never seen by the search, is scored here, next to each base model zero-shot.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.config import StudyConfig, parse_config
from hpo.data import PairData, PairSplit, RetrievalData, StudyData, load_data
from hpo.data.model import fingerprint
from hpo.errors import ConfigError, HpoError, UsageError
from hpo.evaluation import Evaluation, evaluate_model
from hpo.model_card import write_card_section
from hpo.space import TrainingParams

logger = logging.getLogger(__name__)
SPLITS = ("train", "dev")


@dataclass(frozen=True)
class BestRecipe:
    """What ``hpo best`` exported: the config, the resolved hyperparameters, and provenance."""

    config: StudyConfig
    params: TrainingParams
    document: dict[str, Any]

    @property
    def trial_value(self) -> float | None:
        value = self.document.get("metric", {}).get("value")
        return None if value is None else float(value)


@dataclass(frozen=True)
class FinalReport:
    """The retrained model's scores, and the zero-shot baselines it is compared with."""

    output_dir: Path
    splits: tuple[str, ...]
    dev: Evaluation
    test: Evaluation | None
    baselines: list[Evaluation] = field(default_factory=list)
    trial_value: float | None = None


def load_best(path: Path) -> BestRecipe:
    """Read an exported best-trial YAML; a clear error when it is not one."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    missing = [k for k in ("config", "training") if not isinstance(document, dict) or k not in document]
    if missing:
        raise ConfigError(
            f"{path}: not an exported best trial (missing '{missing[0]}'); "
            "export one with: hpo best --study NAME -o best.yaml"
        )
    config = parse_config(document["config"], source=f"{path}: config")
    try:
        params = TrainingParams.from_dict(document["training"])
    except TypeError as exc:
        raise ConfigError(f"{path}: training: {exc}") from None
    return BestRecipe(config=config, params=params, document=document)


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


def train_final(
    recipe: BestRecipe,
    output_dir: Path,
    splits: tuple[str, ...] = ("train",),
    push_to_hub: str | None = None,
    compare: tuple[str, ...] = (),
) -> FinalReport:
    """Retrain ``recipe`` on ``splits``, score it on dev and test, save it with its card."""
    from objectives import load_objective
    from objectives.base import NullReporter
    from objectives.training import run_training

    if output_dir.exists() and any(output_dir.iterdir()):
        raise UsageError(f"output folder {output_dir} is not empty; choose another or remove it")
    if push_to_hub is not None:
        check_can_push(push_to_hub)
    config = recipe.config
    data = load_data(config, include_test=True)
    expected = recipe.document.get("data_fingerprint")
    if expected and fingerprint(data) != expected:
        logger.warning("the data differs from the data the search ran on; the scores are not comparable")
    train_data = with_dev_in_training(data) if "dev" in splits else data
    result, model = run_training(
        load_objective(config.objective), recipe.params, train_data, config, NullReporter(), keep_model=True
    )
    assert model is not None  # keep_model=True
    dev = Evaluation(
        model="tuned",
        split="dev" if "dev" not in splits else "dev (trained on)",
        value=result.value,
        metric_key=result.metric_key,
        metrics=result.metrics,
        corpus=result.eval_corpus,
        seconds=result.eval_seconds,
    )
    test = evaluate_model(model, config, data, "test", name="tuned") if data.test is not None else None
    baselines = []
    if data.test is not None:
        for base in (*config.search_space.searched_models(), *compare):
            baselines.append(evaluate_model(base, config, data, "test", name=f"{base} (zero-shot)"))
    report = FinalReport(output_dir, splits, dev, test, baselines, recipe.trial_value)
    _save(model, recipe, report)
    if push_to_hub is not None:
        try:
            model.push_to_hub(push_to_hub)
        except Exception as exc:
            raise HpoError(f"--push-to-hub {push_to_hub}: {str(exc).splitlines()[0]}") from exc
    return report


def with_dev_in_training(data: StudyData) -> StudyData:
    """The data with the dev split added to the training data (dev scores then are not held out)."""
    if isinstance(data, RetrievalData):
        dev_pairs = [
            (text, data.corpus[cid]) for qid, text in data.dev.queries.items() for cid in sorted(data.dev.relevant[qid])
        ]
        return RetrievalData(data.train_pairs + dev_pairs, data.dev, data.corpus, data.test)
    assert isinstance(data, PairData)
    train = PairSplit(
        data.train.text1 + data.dev.text1, data.train.text2 + data.dev.text2, data.train.labels + data.dev.labels
    )
    return PairData(train, data.dev, data.test)


def _save(model: Any, recipe: BestRecipe, report: FinalReport) -> None:
    """Write the model to a sibling folder first and rename it: never a half-written model folder."""
    partial = report.output_dir.with_name(report.output_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save(str(partial))
    write_card_section(partial / "README.md", recipe.document, recipe.config, report)
    (partial / "hpo_final.json").write_text(json.dumps(report_dict(recipe, report), indent=2) + "\n")
    if report.output_dir.exists():
        report.output_dir.rmdir()  # checked empty above
    partial.rename(report.output_dir)


def report_dict(recipe: BestRecipe, report: FinalReport) -> dict[str, Any]:
    return {
        "study": recipe.document.get("study"),
        "trial": recipe.document.get("trial", {}).get("number"),
        "trial_dev_value": report.trial_value,
        "trained_on": list(report.splits),
        "training": recipe.params.to_dict(),
        "dev": report.dev.to_dict(),
        "test": report.test.to_dict() if report.test else None,
        "baselines_test": {b.model: b.to_dict() for b in report.baselines},
    }
