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
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo.data.fingerprint import fingerprint
from hpo.errors import HpoError, UsageError
from hpo.results.evaluation import Evaluation, FinalReport, SeedRun, at_dev_thresholds, evaluate_model
from hpo.results.export import ExportedBest, read_best_file
from hpo.results.model_card import write_card_section
from hpo.settings.config import StudyConfig
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.training.models import check_model_reference
from hpo.training.result import NullReporter
from hpo.verdicts.paired import verdict_row

if TYPE_CHECKING:
    from hpo.training.run_cache import RunCache
    from hpo.training.task import Split, Task

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
    trust_remote_code: RemoteCodeConsent | None = None,
    seeds: int = 1,
    max_test_queries: int | None = None,
    progress: bool = False,
) -> FinalReport:
    """Retrain ``recipe`` on ``splits``, score it on dev and test, save it with its card.

    With ``seeds`` above 1, the recipe is also retrained with the next seeds and their scores are
    reported beside it (the saved model is the one trained with the recipe's seed). Zero-shot
    baselines stored by ``hpo baseline`` are reused when they scored the same items. With
    ``progress``, encodings show a progress bar with an ETA.
    """
    from hpo.training.disk_cache import DiskCache
    from hpo.training.run_cache import RunCache
    from objectives.registry import get_task

    if seeds < 1:
        raise UsageError(f"--seeds {seeds}: give 1 or more")
    consent = trust_remote_code or RemoteCodeConsent()
    recipe.config.check_remote_code(consent, [*recipe.config.remote_code_models(), *compare])
    check_output_dir(output_dir)
    for model_name in compare:
        check_model_reference(model_name, "--compare")
    if push_to_hub is not None:
        check_can_push(push_to_hub)
    config = _with_max_test_queries(recipe.config, max_test_queries)
    task = get_task(config.objective)
    data = task.load_data(config, include_test=True)
    expected = recipe.document.data_fingerprint
    if expected and fingerprint(data) != expected:
        logger.warning("the data differs from the data the search ran on; the scores are not comparable")
    train_data = task.with_dev_in_training(data) if "dev" in splits else data
    # One cache for every seed: the base model, tokens, evaluators and mined negatives are built once.
    cache = RunCache(task, train_data, config, DiskCache.from_environment())
    first = recipe.document.training_seed
    dev, test, model, mining = _train_and_test(task, recipe, config, data, cache, splits, first, progress, keep=True)
    other_seeds = []
    for seed in range(first + 1, first + seeds):
        seed_dev, seed_test, _, _ = _train_and_test(task, recipe, config, data, cache, splits, seed, progress)
        other_seeds.append(SeedRun(seed, seed_dev, seed_test))
    del cache  # its base model: the zero-shot scoring below loads its own
    baselines = []
    if data.has_test:
        for base in (*config.search_space.searched_models(), *compare):
            baselines.append(_zero_shot(task, config, data, base, recipe.document.baselines, progress))
    verdicts = []
    if test is not None:
        for baseline in baselines:
            verdicts.append(
                verdict_row(task, config, ("tuned", test.items), (baseline.model, baseline.items), "test", test.corpus)
            )
    report = FinalReport(
        output_dir,
        splits,
        dev,
        test,
        baselines,
        recipe.trial_value,
        verdicts=verdicts,
        seed=first,
        other_seeds=other_seeds,
        max_test_queries=config.data.max_test_queries,
    )
    _save(model, recipe, report, mining)
    if push_to_hub is not None:
        try:
            model.push_to_hub(push_to_hub)
        except Exception as exc:
            raise HpoError(f"--push-to-hub {push_to_hub}: {str(exc).splitlines()[0]}") from exc
    return report


def _with_max_test_queries(config: StudyConfig, max_test_queries: int | None) -> StudyConfig:
    if max_test_queries is None:
        return config
    if max_test_queries < 1:
        raise UsageError(f"--max-test-queries {max_test_queries}: give 1 or more")
    data = config.data.model_copy(update={"max_test_queries": max_test_queries})
    return config.model_copy(update={"data": data})


def _train_and_test(
    task: Task[Any],
    recipe: BestRecipe,
    config: StudyConfig,
    data: Any,
    cache: RunCache,
    splits: tuple[str, ...],
    seed: int,
    progress: bool,
    keep: bool = False,
) -> tuple[Evaluation, Evaluation | None, Any, dict[str, Any]]:
    """Train the recipe with ``seed``: its dev evaluation (from training), test evaluation (dev
    thresholds), the model when ``keep``, and what mining hard negatives cost (trial attributes)."""
    from hpo.training.run import release, train_model

    logger.info("training %s with seed %d", recipe.document.training.model, seed)
    reporter = LogReporter(f"seed {seed}")
    result, model = train_model(task, recipe.document.training, cache.data, config, reporter, cache, seed)
    name = "tuned" if keep else f"tuned (seed {seed})"
    dev = Evaluation(
        model=name,
        split="dev" if "dev" not in splits else "dev (trained on)",
        value=result.value,
        metric_key=result.metric_key,
        metrics=result.metrics,
        corpus=result.eval_corpus,
        seconds=result.eval_seconds,
        items=result.items,
    )
    test = None
    if data.has_test:
        test = at_dev_thresholds(
            task, evaluate_model(model, task, config, data, "test", name=name, progress=progress), dev
        )
    mining = result.mining.user_attrs() if result.mining is not None else {}
    if keep:
        return dev, test, model, mining
    release(model)
    return dev, test, None, mining


def _zero_shot(
    task: Task[Any], config: StudyConfig, data: Any, base: str, stored: dict[str, Any], progress: bool
) -> Evaluation:
    """``base`` zero-shot on test: ``hpo baseline``'s stored score when it scored the same items, else scored now."""
    name = f"{base} (zero-shot)"
    record = stored.get(base) if isinstance(stored.get(base), dict) else None
    test = _stored(task, config, data, name, "test", record)
    if test is None:
        test = evaluate_model(base, task, config, data, "test", name=name, progress=progress)
    if not task.thresholds_from_dev:
        return test
    dev = _stored(task, config, data, name, "dev", record)
    if dev is None:
        capped = config.evaluation.final_corpus == "capped"
        dev = evaluate_model(base, task, config, data, "dev", capped=capped, name=name, progress=progress)
    return at_dev_thresholds(task, test, dev)


def _stored(
    task: Task[Any], config: StudyConfig, data: Any, name: str, split: Split, record: dict[str, Any] | None
) -> Evaluation | None:
    """The stored evaluation of ``split`` when its items are the ones this run would score."""
    if record is None or not isinstance(record.get(split), dict):
        return None
    try:
        stored = Evaluation.from_dict(name, split, record[split])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    capped = split == "dev" and config.evaluation.final_corpus == "capped"
    evaluator, _ = task.evaluator(data, config, split, capped=capped)
    digest = getattr(evaluator, "items_digest", None)
    if stored.items is None or digest is None or stored.items.items != digest():
        return None
    logger.info("%s on %s: reusing the score stored by hpo baseline", name, split)
    return replace(stored, reused="hpo baseline")


class LogReporter(NullReporter):
    """Logs a training run's progress (samples seen, ETA) at most every 30 seconds; never prunes."""

    def __init__(self, label: str, every: float = 30.0) -> None:
        super().__init__()
        self.label = label
        self.every = every
        self.started = time.monotonic()
        self.logged = self.started

    def progress(self, samples: int, total: int) -> None:
        now = time.monotonic()
        if now - self.logged < self.every or samples == 0:
            return
        self.logged = now
        eta = (now - self.started) * (total - samples) / samples
        logger.info("training (%s): %d of %d samples, about %.0f s left", self.label, samples, total, eta)


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
    summary = {split: report.seed_summary(split) for split in ("dev", "test")}
    return {
        "study": recipe.document.study,
        "trial": recipe.document.trial.number,
        "trial_dev_value": report.trial_value,
        "trained_on": list(report.splits),
        "training": recipe.document.training.to_dict(),
        "seed": report.seed,
        "max_test_queries": report.max_test_queries,
        "dev": report.dev.to_dict(),
        "test": report.test.to_dict() if report.test else None,
        "baselines_test": {b.model: b.to_dict() for b in report.baselines},
        "verdicts_test": [v.to_dict() for v in report.verdicts],
        "other_seeds": [run.to_dict() for run in report.other_seeds],
        "over_seeds": {
            split: {"mean": s[0], "sd": s[1], "runs": s[2]} for split, s in summary.items() if s is not None
        },
    }


def read_report(output_dir: Path, task: Task[Any], config: StudyConfig) -> FinalReport:
    """The report of a model ``train_final`` saved in ``output_dir`` (its ``hpo_final.json``), with
    its test verdicts recomputed from the stored item scores."""
    record = json.loads((output_dir / "hpo_final.json").read_text(encoding="utf-8"))
    dev = Evaluation.from_dict("tuned", "dev", record["dev"])
    test = Evaluation.from_dict("tuned", "test", record["test"]) if record.get("test") else None
    baselines = [Evaluation.from_dict(name, "test", r) for name, r in record.get("baselines_test", {}).items()]
    verdicts = []
    if test is not None:
        for baseline in baselines:
            verdicts.append(
                verdict_row(task, config, ("tuned", test.items), (baseline.model, baseline.items), "test", test.corpus)
            )
    splits = tuple(record.get("trained_on", ["train"]))
    return FinalReport(output_dir, splits, dev, test, baselines, record.get("trial_dev_value"), verdicts=verdicts)
