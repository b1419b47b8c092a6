"""One fine-tuning run with SentenceTransformerTrainer: shared by every task, in a trial or for the final model.

:func:`train_trial` trains and scores a trial's model and throws it away; :func:`train_model`
keeps it (the final model). Both are a :class:`TrainingRun`: load the model, train, score, clean up.
"""

from __future__ import annotations

import gc
import logging
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hpo.training.document_memo import DocumentMemo
from hpo.training.encode_meter import EncodeMeter
from hpo.training.matryoshka import dimension_values, matryoshka_loss
from hpo.training.models import best_device, device_description, peak_memory
from hpo.training.precision import Precision, best_precision, inference_autocast
from hpo.training.result import Reporter, RunResult
from hpo.training.run_cache import RunCache
from hpo.training.run_folder import run_folder
from hpo.training.stopwatch import Stopwatch

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.settings.config import StudyConfig
    from hpo.settings.space import TrainingParams
    from hpo.stats.item_scores import ItemScores
    from hpo.training.mining import MiningRecord
    from hpo.training.schedule import SampleScheduleCallback
    from hpo.training.task import Task

logger = logging.getLogger(__name__)


def train_trial(
    task: Task[Any],
    params: TrainingParams,
    data: Any,
    config: StudyConfig,
    reporter: Reporter,
    cache: RunCache | None = None,
    seed: int | None = None,
) -> RunResult:
    """A trial's run of ``params`` (see :class:`TrainingRun`); its model is freed."""
    with TrainingRun(task, params, data, config, reporter, cache, seed) as run:
        return run.result()


def train_model(
    task: Task[Any],
    params: TrainingParams,
    data: Any,
    config: StudyConfig,
    reporter: Reporter,
    cache: RunCache | None = None,
    seed: int | None = None,
) -> tuple[RunResult, SentenceTransformer]:
    """A run of ``params`` whose model is kept (see :class:`TrainingRun`): its result and the trained
    model, with what its model card needs gathered during training."""
    with TrainingRun(task, params, data, config, reporter, cache, seed, model_card=True) as run:
        return run.result(), run.keep_model()


class TrainingRun:
    """Fine-tune ``params.model`` on the train split, evaluating on dev at the sample schedule.

    Entering loads the model; :meth:`result` trains and scores it; leaving cleans up once, however
    the run ended: the encode meter comes off the model, and the model's memory is freed unless
    :meth:`keep_model` took it.
    """

    def __init__(
        self,
        task: Task[Any],
        params: TrainingParams,
        data: Any,
        config: StudyConfig,
        reporter: Reporter,
        cache: RunCache | None = None,
        seed: int | None = None,
        model_card: bool = False,
    ) -> None:
        """``cache`` holds what earlier runs in this process built from the same data and config (a
        worker passes one to every trial). ``seed`` is the training seed (weights of new layers, data
        order); the config's seed when None. ``model_card``: gather the model card's data while
        training, worth it only for a model that is kept."""
        from hpo.training.schedule import SampleCounter

        self.task = task
        self.params = params
        self.data = data
        self.config = config
        self.reporter = reporter
        self.cache = cache or RunCache(task, data, config)
        self.seed = config.seed if seed is None else seed
        self.model_card = model_card
        self.clock = Stopwatch()
        self.device = best_device()
        self.precision = best_precision(self.device, config.precision)
        self.counter = SampleCounter()
        # Set with the schedule: the evaluator of its evaluations (capped corpus), a description of
        # that corpus, and whether the final evaluation is on the same corpus.
        self.intermediate: Any = None
        self.intermediate_corpus = ""
        self.final_capped = True
        self.mining: MiningRecord | None = None  # what mining hard negatives cost, when the run used them
        self._kept = False

    def __enter__(self) -> TrainingRun:
        """Load the model (timed as "model") and meter its encodings until the run is left."""
        import torch

        torch.manual_seed(self.seed)
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        with self.clock("model"):
            self.model = self.cache.model(self.params.model, self.device, self.params.max_seq_length)
        self.meter = EncodeMeter(self.model)
        self.meter.install()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.meter.remove()
        if not self._kept:
            release(self.model)

    def keep_model(self) -> SentenceTransformer:
        """The trained model, which leaving the run then leaves in memory."""
        self._kept = True
        return self.model

    def result(self) -> RunResult:
        """Train, then score on dev: the run's record. Raises :class:`~hpo.training.result.Pruned`
        when the reporter stops the run and :class:`~hpo.errors.TrialError` when the loss stops
        being finite."""
        schedule = self._schedule()
        samples = self._train(schedule, self._train_dataset())
        schedule.check_loss()
        metrics, items, corpus = self._score(schedule, samples)
        return self._record(schedule, samples, metrics, items, corpus)

    def _schedule(self) -> SampleScheduleCallback:
        """The intermediate evaluator and the sample schedule that evaluates with it (timed as "setup")."""
        from hpo.training.schedule import SampleScheduleCallback

        with self.clock("setup"):
            self.intermediate, self.intermediate_corpus = self.cache.evaluator("dev", capped=True)
            # The final evaluation is the last intermediate one unless it scores on a larger corpus.
            self.final_capped = self.config.evaluation.final_corpus == "capped" or not self.task.caps_corpus(
                self.data, self.config, "dev"
            )
            return SampleScheduleCallback(
                evaluate=lambda m: evaluate(self.intermediate, m, self.device, self.precision),
                select=lambda metrics: float(metrics[self.task.metric_key(metrics, self.config.metric_name)]),
                reporter=self.reporter,
                every_samples=self.config.evaluation.every_samples,
                counter=self.counter,
                total_samples=self.params.epochs * len(self.cache.train_dataset()),
                skip_last_step=not self.final_capped,  # scored after training, before the full corpus
            )

    def _train_dataset(self) -> Any:
        """The training dataset, with mined hard negatives when ``params.hard_negatives`` names a miner."""
        self.task.check_run(self.params)
        if self.params.hard_negatives is not None:
            with self.clock("mine"):
                dataset, self.mining = self.cache.mined_train_dataset(self.params, self.device, self.precision)
            return dataset
        return self.cache.train_dataset()

    def _train(self, schedule: SampleScheduleCallback, train_dataset: Any) -> int:
        """Train with ``schedule`` evaluating along the way; the training samples seen.

        "train" times the training alone: the schedule's evaluations and reports are timed apart.
        """
        with run_folder() as output_dir:  # also removes those of killed workers
            with self.clock("setup"):
                trainer = self._trainer(output_dir, schedule, train_dataset)
            with self.clock("train"):
                trainer.train()
        del trainer  # the optimizer's memory goes before the final evaluation
        self.clock.seconds["train"] -= sum(schedule.seconds().values())
        return schedule.samples_seen()

    def _trainer(self, output_dir: str, schedule: SampleScheduleCallback, train_dataset: Any) -> Any:
        """The trainer of the model with ``params``' arguments and loss, writing under ``output_dir``."""
        from hpo.training.trainer import build_trainer, training_arguments

        params, model = self.params, self.model
        args = training_arguments(output_dir, params, self.seed, self.task.batch_sampler, self.device, self.precision)
        loss = self.task.loss(model, params)
        if params.matryoshka_dims:
            loss = matryoshka_loss(model, loss, params.matryoshka_dims, params.model)
        return build_trainer(model, args, train_dataset, loss, schedule, self.counter, self.model_card)

    def _score(self, schedule: SampleScheduleCallback, samples: int) -> tuple[dict[str, float], ItemScores | None, str]:
        """The trained model's dev metrics, its per-item scores and the corpus they were scored on."""
        final, corpus = self.cache.evaluator("dev", capped=self.final_capped)
        with DocumentMemo(self.model) as memo:
            # The pruner sees the end of training on the capped corpus first: the full-corpus
            # evaluation is paid only by trials it keeps, and it re-encodes only the other passages.
            if schedule.score_end(self.model, samples):
                memo.freeze()
            self.clock.seconds.update(schedule.seconds())
            attrs = self.mining.user_attrs() if self.mining is not None else {}
            schedule.check_pruned(self.intermediate_corpus, dict(self.clock.seconds), attrs)
            reused = schedule.metrics_at(samples) if self.final_capped else None
            if reused is not None:  # the last intermediate evaluation already scored this model
                return reused, getattr(self.intermediate, "last_items", None), corpus
            with self.clock("evaluate_final"):
                metrics = evaluate(final, self.model, self.device, self.precision)
            return metrics, getattr(final, "last_items", None), corpus

    def _record(
        self,
        schedule: SampleScheduleCallback,
        samples: int,
        metrics: dict[str, float],
        items: ItemScores | None,
        corpus: str,
    ) -> RunResult:
        key = self.task.metric_key(metrics, self.config.metric_name)
        memory, kind = peak_memory(self.device)
        seconds = self.clock.seconds
        return RunResult(
            value=float(metrics[key]),
            metric_key=key,
            metrics={k: float(v) for k, v in metrics.items()},
            samples_seen=samples,
            train_seconds=seconds["train"],
            eval_seconds=seconds["evaluate_intermediate"] + seconds.get("evaluate_final", 0.0),
            train_samples_per_second=samples / seconds["train"] if seconds["train"] > 0 else 0.0,
            peak_memory_mb=memory,
            memory_kind=kind,
            device=f"{device_description(self.device)}, {self.precision}",
            eval_corpus=corpus,
            intermediate_corpus=self.intermediate_corpus,
            intermediate=schedule.intermediate(),
            seconds=dict(seconds),
            mining=self.mining,
            dimensions=dimension_values(metrics, key),
            items=items.only([self.config.metric_name]) if items is not None else None,
            seed=self.seed,
            encode_texts_per_second=self.meter.texts_per_second,
            embedding_dim=self.meter.dimension,
        )


def evaluate(evaluator: Any, model: Any, device: str, precision: Precision) -> dict[str, float]:
    """The evaluator's metrics for ``model``, encoded in ``precision`` on ``device``."""
    with inference_autocast(device, precision):
        return as_metrics(evaluator(model))


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
