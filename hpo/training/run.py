"""One fine-tuning run with SentenceTransformerTrainer: shared by every task, in a trial or for the final model."""

from __future__ import annotations

import gc
import logging
import tempfile
from typing import TYPE_CHECKING, Any

from hpo.training.document_memo import DocumentMemo
from hpo.training.encode_meter import EncodeMeter
from hpo.training.matryoshka import dimension_values, matryoshka_loss
from hpo.training.models import best_device, device_description, peak_memory
from hpo.training.precision import Precision, best_precision, inference_autocast
from hpo.training.result import Pruned, Reporter, RunResult
from hpo.training.run_cache import RunCache
from hpo.training.stopwatch import Stopwatch

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.config import StudyConfig
    from hpo.space import TrainingParams
    from hpo.training.mining import MiningRecord
    from objectives.task import Task

logger = logging.getLogger(__name__)


def run_training(
    task: Task[Any],
    params: TrainingParams,
    data: Any,
    config: StudyConfig,
    reporter: Reporter,
    keep_model: bool = False,
    cache: RunCache | None = None,
    seed: int | None = None,
) -> tuple[RunResult, SentenceTransformer | None]:
    """Fine-tune ``params.model`` on the train split, evaluating on dev at the sample schedule.

    ``cache`` holds what earlier runs in this process built from the same data and config (a
    worker passes one to every trial). ``seed`` is the training seed (weights of new layers, data
    order); the config's seed when None. Raises :class:`Pruned` when the reporter stops the run and
    :class:`~hpo.errors.TrialError` when the loss stops being finite. Returns the model only when
    ``keep_model``.
    """
    import torch
    from transformers import PrinterCallback, ProgressCallback

    from hpo.errors import TrialError
    from hpo.training.schedule import SampleCounter, SampleScheduleCallback

    cache = cache or RunCache(task, data, config)
    clock = Stopwatch()
    seed = config.seed if seed is None else seed
    torch.manual_seed(seed)
    device = best_device()
    precision = best_precision(device, config.precision)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with clock("model"):
        model = cache.model(params.model, device, params.max_seq_length)
    meter = EncodeMeter(model)
    meter.install()  # removed after the model's last evaluation below
    counter = SampleCounter()
    with clock("setup"):
        intermediate, intermediate_corpus = cache.evaluator("dev", capped=True)
        # The final evaluation is the last intermediate one unless it scores on a larger corpus.
        final_capped = config.evaluation.final_corpus == "capped" or not task.caps_corpus(data, config, "dev")
        callback = SampleScheduleCallback(
            evaluate=lambda m: evaluate(intermediate, m, device, precision),
            select=lambda metrics: float(metrics[task.metric_key(metrics, config.metric_name)]),
            reporter=reporter,
            every_samples=config.evaluation.every_samples,
            counter=counter,
            total_samples=params.epochs * len(cache.train_dataset()),
            skip_last_step=not final_capped,  # scored after training, before the full corpus
        )
    mining: MiningRecord | None = None
    if params.hard_negatives is not None:
        with clock("mine"):
            train_dataset, mining = cache.mined_train_dataset(params, device, precision)
    elif task.losses[params.loss].negatives == "one":
        raise TrialError(f"{params.loss} trains on mined negatives only; give hard_negatives a miner")
    else:
        train_dataset = cache.train_dataset()
    with tempfile.TemporaryDirectory(prefix="hpo-run-") as output_dir:
        with clock("setup"):
            args = _arguments(output_dir, params, seed, task.batch_sampler, device, precision)
            train_loss = task.loss(model, params)
            if params.matryoshka_dims:
                train_loss = matryoshka_loss(model, train_loss, params.matryoshka_dims, params.model)
            trainer = _trainer_class(keep_model)(
                model=model,
                args=args,
                train_dataset=train_dataset,
                loss=train_loss,
                callbacks=[callback],
            )
            trainer.sample_counter = counter
            # Results go to stdout and logs through logging: drop the Trainer's print/tqdm callbacks.
            trainer.remove_callback(PrinterCallback)
            trainer.remove_callback(ProgressCallback)
        with clock("train_and_evaluate"):
            trainer.train()
        samples = callback.samples_seen(trainer.state)
    del trainer
    clock.seconds["train"] = clock.seconds.pop("train_and_evaluate") - callback.eval_seconds - callback.report_seconds
    if callback.nonfinite_loss is not None:
        at, loss = callback.nonfinite_loss
        meter.remove()
        release(model)
        raise TrialError(f"training loss became {loss} after {at} samples")
    final, corpus = cache.evaluator("dev", capped=final_capped)
    with DocumentMemo(model) as memo:
        if not final_capped and callback.pruned_at is None:
            # The pruner sees the end of training on the capped corpus first: the full-corpus
            # evaluation is paid only by trials it keeps, and it re-encodes only the other passages.
            callback.score(model, samples)
            memo.freeze()
        clock.seconds["evaluate_intermediate"] = callback.eval_seconds
        clock.seconds["report"] = callback.report_seconds
        if callback.pruned_at is not None:
            meter.remove()
            release(model)
            extra = mining.user_attrs() if mining is not None else {}
            raise Pruned(*callback.pruned_at, intermediate_corpus, dict(clock.seconds), extra)
        if final_capped and callback.last is not None and callback.last[0] == samples:
            metrics = callback.last[1]  # the last intermediate evaluation already scored this model
            items = getattr(intermediate, "last_items", None)  # the evaluator of that evaluation
        else:
            with clock("evaluate_final"):
                metrics = evaluate(final, model, device, precision)
            items = getattr(final, "last_items", None)
    meter.remove()
    key = task.metric_key(metrics, config.metric_name)
    memory, kind = peak_memory(device)
    train_seconds = clock.seconds["train"]
    result = RunResult(
        value=float(metrics[key]),
        metric_key=key,
        metrics={k: float(v) for k, v in metrics.items()},
        samples_seen=samples,
        train_seconds=train_seconds,
        eval_seconds=callback.eval_seconds + clock.seconds.get("evaluate_final", 0.0),
        train_samples_per_second=samples / train_seconds if train_seconds > 0 else 0.0,
        peak_memory_mb=memory,
        memory_kind=kind,
        device=f"{device_description(device)}, {precision}",
        eval_corpus=corpus,
        intermediate_corpus=intermediate_corpus,
        intermediate=dict(callback.intermediate),
        seconds=dict(clock.seconds),
        mining=mining,
        dimensions=dimension_values(metrics, key),
        items=items.only([config.metric_name]) if items is not None else None,
        seed=seed,
        encode_texts_per_second=meter.texts_per_second,
        embedding_dim=meter.dimension,
    )
    if keep_model:
        return result, model
    release(model)
    return result, None


def _arguments(
    output_dir: str, params: TrainingParams, seed: int, batch_sampler: str, device: str, precision: Precision
) -> Any:
    from sentence_transformers import SentenceTransformerTrainingArguments

    from hpo.training.data_path import batch_sampler as sampler_for
    from hpo.training.data_path import loader_arguments

    return SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        learning_rate=params.learning_rate,
        warmup_steps=params.warmup_ratio,  # a float below 1 is a ratio in transformers 5
        weight_decay=params.weight_decay,
        lr_scheduler_type=params.scheduler,
        seed=seed,
        data_seed=seed,
        batch_sampler=sampler_for(batch_sampler),
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=device == "cpu",
        dataloader_drop_last=False,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        **loader_arguments(device),
    )


def evaluate(evaluator: Any, model: Any, device: str, precision: Precision) -> dict[str, float]:
    """The evaluator's metrics for ``model``, encoded in ``precision`` on ``device``."""
    with inference_autocast(device, precision):
        return as_metrics(evaluator(model))


def _trainer_class(keep_model: bool) -> Any:
    from sentence_transformers import SentenceTransformerTrainer

    from hpo.training.schedule import SampleCounter

    class CountingTrainer(SentenceTransformerTrainer):
        """A trainer that counts the samples each training batch really holds."""

        sample_counter: SampleCounter | None = None

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            if self.sample_counter is not None:
                self.sample_counter.add(inputs)
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    class TrialTrainer(CountingTrainer):
        """A trainer without the model-card callback: a trial's model is thrown away, so the
        card's widget examples and dataset statistics would be wasted work."""

        def add_model_card_callback(self, default_args_dict: dict[str, Any]) -> None:
            return None

    return CountingTrainer if keep_model else TrialTrainer


def as_metrics(result: float | dict[str, float]) -> dict[str, float]:
    """The metrics dict of an evaluator call (sentence-transformers evaluators return one)."""
    if not isinstance(result, dict):
        raise TypeError(f"evaluator returned {type(result).__name__}, expected a dict of metrics")
    return result


def release(model: Any) -> None:
    """Free a model's memory (and the optimizer's, now unreferenced) before the next trial."""
    import torch

    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
