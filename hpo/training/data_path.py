"""How training batches reach the model: the batch sampler, the data loader settings, the log interval.

Measured side by side on the BioASQ pairs (``benchmarks/data_path.py``, figures in BENCHMARKS.md):
batches padded from pre-tokenized arrays (:mod:`hpo.training.token_table`) in the main process
outrun data-loader worker processes that tokenize, so there are no workers; each worker process
would also hold its own copy of the dataset and token arrays. On CUDA the batches are built in
pinned memory and copied without blocking, so the copy overlaps the previous step. The Trainer
reads the loss back from the GPU (a synchronization that stalls the pipeline) only every
``LOG_EVERY_STEPS`` steps and after the first one; a non-finite loss is still caught, at the next
read, because the summed loss stays non-finite.
"""

from __future__ import annotations

from typing import Any

LOG_EVERY_STEPS = 50


def batch_sampler(name: str) -> Any:
    """The sampler sentence-transformers would use for ``name``, or hpo's faster equal for NO_DUPLICATES."""
    if name == "no_duplicates":
        from hpo.training.no_duplicates import IndexedNoDuplicatesBatchSampler

        return IndexedNoDuplicatesBatchSampler
    return name


def loader_arguments(device: str) -> dict[str, Any]:
    """``TrainingArguments`` keywords of the data loader and the loss read-back on ``device``."""
    cuda = device == "cuda"
    return {
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": cuda,
        "accelerator_config": {"non_blocking": cuda},
        "logging_steps": LOG_EVERY_STEPS,
        "logging_first_step": True,
        "logging_nan_inf_filter": False,  # the non-finite check in SampleScheduleCallback must see them
    }
