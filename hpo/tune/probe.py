"""A short probe of this hardware: how fast each candidate base model trains and encodes here.

For each model: its load time, training samples per second at each batch size that fits memory
(a few real optimizer steps of the task's recommended loss on real training rows), and encoded
texts per second. The probe stops a model's measurements when its share of the probe time is
spent; a batch size it did not reach is assumed to run at the speed of the largest one measured
(on a CPU, where memory is no limit) or left out (on a GPU, where it may not fit).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpo.errors import HpoError, UsageError
from hpo.training.recipe import default_recipe
from hpo.tune.plan import BATCH_SIZES, ModelProbe

if TYPE_CHECKING:
    from hpo.settings.remote_code import RemoteCodeConsent
    from hpo.training.task import Task

logger = logging.getLogger(__name__)

# Candidates by size, smallest first: the first that loads is the default recipe's model.
CANDIDATES = (
    "sentence-transformers/all-MiniLM-L6-v2",
    "BAAI/bge-small-en-v1.5",
    "sentence-transformers/all-mpnet-base-v2",
    "BAAI/bge-base-en-v1.5",
)
ENCODE_TEXTS = 256
LABEL_COLUMNS = ("label", "score", "labels")


def available_models(models: Sequence[str]) -> tuple[list[str], list[str]]:
    """The models that can be loaded here (a folder, a packaged model, the Hub or its cache), and
    one note for each that cannot."""
    from hpo.training.models import check_model_reference

    found, notes = [], []
    for model in models:
        try:
            check_model_reference(model, "--models")
        except HpoError as exc:
            notes.append(f"{model} skipped: {exc}")
            continue
        found.append(model)
    return found, notes


def probe_models(
    models: Sequence[str],
    task: Task[Any],
    data: Any,
    seconds: float,
    max_seq_length: int,
    trust_remote_code: RemoteCodeConsent | None = None,
) -> list[ModelProbe]:
    """Measure each model within ``seconds`` in all (the probe's share of the budget)."""
    dataset = task.train_dataset(data)
    every = task.evaluation_texts(data, "dev")
    texts = every[:: max(1, len(every) // ENCODE_TEXTS)][:ENCODE_TEXTS]  # queries and passages alike
    probes: list[ModelProbe] = []
    for i, model in enumerate(models):
        share = (seconds - sum(p.load_seconds for p in probes)) / (len(models) - i)
        trusted = trust_remote_code is not None and trust_remote_code.allows(model)
        probes.append(_probe_one(model, task, dataset, texts, share, max_seq_length, trusted))
        logger.info("probe %s: %s", model, _describe(probes[-1]))
    return probes


def _probe_one(
    model_name: str,
    task: Task[Any],
    dataset: Any,
    texts: list[str],
    seconds: float,
    max_seq_length: int,
    trust_remote_code: bool,
) -> ModelProbe:
    import torch

    from hpo.training.models import best_device, load_model
    from hpo.training.precision import best_precision, inference_autocast

    started = time.monotonic()
    device = best_device()
    model = load_model(model_name, device, max_seq_length, trust_remote_code)
    load = time.monotonic() - started
    loss = task.loss(model, _recipe_params(task, model_name))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-5)
    deadline = started + seconds
    speeds: dict[int, float] = {}
    _step(model, loss, optimizer, dataset, min(BATCH_SIZES))  # warm-up: first-step costs are not speed
    for batch in BATCH_SIZES:
        if speeds and time.monotonic() + batch / max(speeds.values()) > deadline:
            break
        try:
            speeds[batch] = batch / _timed(_step, model, loss, optimizer, dataset, batch)
        except torch.OutOfMemoryError:
            torch.cuda.empty_cache()
            break
    if device != "cuda" and speeds:
        fastest = speeds[max(speeds)]
        speeds.update({b: fastest for b in BATCH_SIZES if b not in speeds})
    with inference_autocast(device, best_precision(device)):  # as the evaluations will encode
        model.encode(texts[:16], batch_size=16)  # warm-up: first-batch costs are not speed
        encode = len(texts) / _timed(model.encode, texts, batch_size=64, convert_to_numpy=True)
    del model, loss, optimizer  # the next candidate needs the memory
    if device == "cuda":
        torch.cuda.empty_cache()
    if not speeds:
        raise UsageError(f"{model_name}: not even a batch of {min(BATCH_SIZES)} fits in memory; give smaller --models")
    return ModelProbe(model_name, speeds, encode, load)


def _step(model: Any, loss: Any, optimizer: Any, dataset: Any, batch: int) -> None:
    """One real optimizer step of ``loss`` on ``batch`` training rows."""
    import torch

    rows = dataset.select(range(min(batch, len(dataset))))
    inputs = [c for c in rows.column_names if c not in LABEL_COLUMNS]
    labels = [c for c in rows.column_names if c in LABEL_COLUMNS]
    features = [_on_device(model.preprocess(rows[c]), model.device) for c in inputs]
    target = torch.tensor(rows[labels[0]], dtype=torch.float, device=model.device) if labels else None
    optimizer.zero_grad()
    value = loss(features, target)
    value.backward()
    optimizer.step()


def _on_device(features: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def _timed(action: Any, *args: Any, **kwargs: Any) -> float:
    started = time.monotonic()
    action(*args, **kwargs)
    return max(time.monotonic() - started, 1e-6)


def _recipe_params(task: Task[Any], model: str) -> Any:
    from hpo.settings.space import TrainingParams

    recipe = default_recipe(task)
    return TrainingParams.from_dict(
        {
            "model": model,
            "loss": recipe.loss,
            "loss_params": recipe.loss_params,
            "learning_rate": recipe.learning_rate,
            "batch_size": recipe.batch_size,
            "epochs": recipe.epochs,
            "warmup_ratio": recipe.warmup_ratio,
            "weight_decay": 0.0,
            "max_seq_length": None,
            "scheduler": "linear",
        }
    )


def _describe(probe: ModelProbe) -> str:
    speeds = ", ".join(f"bs {b}: {s:.1f}/s" for b, s in sorted(probe.train_samples_per_second.items()))
    return f"load {probe.load_seconds:.1f} s; train {speeds}; encode {probe.encode_texts_per_second:.0f} texts/s"
