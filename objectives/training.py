"""One fine-tuning run with SentenceTransformerTrainer: shared by every objective, trial or final."""

from __future__ import annotations

import gc
import logging
import resource
import tempfile
import time
from typing import TYPE_CHECKING, Any

from objectives.base import Objective, Pruned, Reporter, RunResult
from objectives.models import best_device, device_description, load_model

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.config import StudyConfig
    from hpo.data import StudyData
    from hpo.space import TrainingParams

logger = logging.getLogger(__name__)


def run_training(
    objective: Objective,
    params: TrainingParams,
    data: StudyData,
    config: StudyConfig,
    reporter: Reporter,
    keep_model: bool = False,
) -> tuple[RunResult, SentenceTransformer | None]:
    """Fine-tune ``params.model`` on the train split, evaluating on dev at the sample schedule.

    Raises :class:`Pruned` when the reporter stops the run and :class:`~hpo.errors.TrialError`
    when the loss stops being finite. Returns the model only when ``keep_model``.
    """
    import torch
    from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from transformers import PrinterCallback, ProgressCallback

    from hpo.errors import TrialError
    from objectives.pruning import SampleScheduleCallback

    torch.manual_seed(config.seed)
    device = best_device()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    model = load_model(params.model, device, params.max_seq_length, config.trust_remote_code)
    intermediate, intermediate_corpus = objective.evaluator(data, config, "dev", capped=True)
    callback = SampleScheduleCallback(
        evaluate=lambda m: as_metrics(intermediate(m)),
        select=lambda metrics: float(metrics[objective.metric_key(metrics, config.metric_name)]),
        reporter=reporter,
        every_samples=config.evaluation.every_samples,
        samples_per_step=params.batch_size,
    )
    with tempfile.TemporaryDirectory(prefix="hpo-run-") as output_dir:
        args = SentenceTransformerTrainingArguments(
            output_dir=output_dir,
            num_train_epochs=params.epochs,
            per_device_train_batch_size=params.batch_size,
            learning_rate=params.learning_rate,
            warmup_steps=params.warmup_ratio,  # a float below 1 is a ratio in transformers 5
            weight_decay=params.weight_decay,
            lr_scheduler_type=params.scheduler,
            seed=config.seed,
            data_seed=config.seed,
            batch_sampler=objective.batch_sampler(),
            eval_strategy="no",
            save_strategy="no",
            report_to="none",
            logging_steps=1,  # lets the callback stop at the first non-finite loss
            logging_nan_inf_filter=False,  # the NaN check in SampleScheduleCallback must see them
            disable_tqdm=True,
            use_cpu=device == "cpu",
            bf16=device == "cuda" and torch.cuda.is_bf16_supported(),
            dataloader_drop_last=False,
        )
        trainer_class = SentenceTransformerTrainer if keep_model else _trial_trainer_class()
        trainer = trainer_class(
            model=model,
            args=args,
            train_dataset=objective.train_dataset(data),
            loss=objective.loss(model, params),
            callbacks=[callback],
        )
        # Results go to stdout and logs through logging: drop the Trainer's print/tqdm callbacks.
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)
        started = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - started - callback.eval_seconds
        samples = callback.samples_seen(trainer.state)
    del trainer
    if callback.nonfinite_loss is not None:
        at, loss = callback.nonfinite_loss
        release(model)
        raise TrialError(f"training loss became {loss} after {at} samples")
    if callback.pruned_at is not None:
        release(model)
        raise Pruned(*callback.pruned_at, eval_corpus=intermediate_corpus)
    capped = config.evaluation.final_corpus == "capped"
    final, corpus = objective.evaluator(data, config, "dev", capped=capped)
    if capped and callback.last is not None and callback.last[0] == samples:
        metrics = callback.last[1]  # the last intermediate evaluation already scored this model
    else:
        started = time.perf_counter()
        metrics = as_metrics(final(model))
        callback.eval_seconds += time.perf_counter() - started
    eval_seconds = callback.eval_seconds
    key = objective.metric_key(metrics, config.metric_name)
    memory, kind = _peak_memory(device)
    result = RunResult(
        value=float(metrics[key]),
        metric_key=key,
        metrics={k: float(v) for k, v in metrics.items()},
        samples_seen=samples,
        train_seconds=train_seconds,
        eval_seconds=eval_seconds,
        train_samples_per_second=samples / train_seconds if train_seconds > 0 else 0.0,
        peak_memory_mb=memory,
        memory_kind=kind,
        device=device_description(device),
        eval_corpus=corpus,
        intermediate_corpus=intermediate_corpus,
        intermediate=dict(callback.intermediate),
    )
    if keep_model:
        return result, model
    release(model)
    return result, None


def _trial_trainer_class() -> type:
    from sentence_transformers import SentenceTransformerTrainer

    class TrialTrainer(SentenceTransformerTrainer):
        """A trainer without the model-card callback: a trial's model is thrown away, so the
        card's widget examples and dataset statistics would be wasted work."""

        def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
            return None

    return TrialTrainer


def as_metrics(result: float | dict[str, float]) -> dict[str, float]:
    """The metrics dict of an evaluator call (sentence-transformers evaluators return one)."""
    if not isinstance(result, dict):
        raise TypeError(f"evaluator returned {type(result).__name__}, expected a dict of metrics")
    return result


def _peak_memory(device: str) -> tuple[float, str]:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


def release(model: Any) -> None:
    """Free a model's memory (and the optimizer's, now unreferenced) before the next trial."""
    import torch

    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
