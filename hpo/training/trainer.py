"""The SentenceTransformerTrainer a training run drives: its arguments and the trainer itself."""

from __future__ import annotations

import contextlib
import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import TrainerCallback

    from hpo.settings.space import TrainingParams
    from hpo.training.precision import Precision
    from hpo.training.schedule import SampleCounter


def training_arguments(
    output_dir: str, params: TrainingParams, seed: int, batch_sampler: str, device: str, precision: Precision
) -> Any:
    """The trainer's arguments for ``params``: no evaluation, saving or reporting of its own."""
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


def build_trainer(
    model: SentenceTransformer,
    args: Any,
    train_dataset: Any,
    loss: Any,
    callback: TrainerCallback,
    counter: SampleCounter,
    model_card: bool,
) -> Any:
    """A trainer that counts the samples of each batch into ``counter`` and reports only through ``callback``.

    ``model_card``: gather the model card's data while training, worth it only for a model that is kept.
    """
    from transformers import PrinterCallback, ProgressCallback

    if model_card:
        _quiet_widget_examples(model)
    trainer = _trainer_class(model_card)(
        model=model, args=args, train_dataset=train_dataset, loss=loss, callbacks=[callback]
    )
    trainer.sample_counter = counter
    # Results go to stdout and logs through logging: drop the Trainer's print/tqdm callbacks.
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer


def _quiet_widget_examples(model: Any) -> None:
    """Keep the model card's "Computing widget examples" bar off stderr (a redirected log keeps every
    frame of it): sentence-transformers draws it with tqdm, which no setting of theirs turns off. The
    examples are still computed; only this model's card data is touched."""
    card = model.model_card_data
    compute = card.set_widget_examples

    def quietly(dataset: Any) -> None:
        with contextlib.redirect_stderr(io.StringIO()):
            compute(dataset)

    card.set_widget_examples = quietly


def _trainer_class(model_card: bool) -> Any:
    from sentence_transformers import SentenceTransformerTrainer

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

    return CountingTrainer if model_card else TrialTrainer
