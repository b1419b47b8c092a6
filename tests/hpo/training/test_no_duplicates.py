from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import NoDuplicatesBatchSampler

from hpo.training.no_duplicates import IndexedNoDuplicatesBatchSampler


def _pairs() -> Dataset:
    # 40 questions with 1 to 6 passages each; some passages shared between questions; one label column
    anchors, positives = [], []
    for q in range(40):
        for p in range(1 + q % 6):
            anchors.append(f"question {q}")
            positives.append(f"passage {(q * 7 + p) % 90}")
    return Dataset.from_dict({"anchor": anchors, "positive": positives, "label": [1.0] * len(anchors)})


@pytest.mark.parametrize("batch_size", [4, 16, 33])
@pytest.mark.parametrize("drop_last", [False, True])
def test_yields_exactly_the_batches_of_sentence_transformers(batch_size: int, drop_last: bool) -> None:
    dataset = _pairs()
    for epoch in (0, 1):
        ours = IndexedNoDuplicatesBatchSampler(
            dataset, batch_size, drop_last, valid_label_columns=["label"], generator=torch.Generator(), seed=3
        )
        theirs = NoDuplicatesBatchSampler(
            dataset, batch_size, drop_last, valid_label_columns=["label"], generator=torch.Generator(), seed=3
        )
        ours.set_epoch(epoch)
        theirs.set_epoch(epoch)
        batches = list(ours)
        assert batches == list(theirs)
        assert len(batches) >= len(ours) - 1


def test_no_batch_repeats_a_value() -> None:
    dataset = _pairs()
    for batch in IndexedNoDuplicatesBatchSampler(dataset, 8, False, generator=torch.Generator(), seed=0):
        values = [dataset[i][c] for i in batch for c in ("anchor", "positive")]
        assert len(values) == len(set(values))


def test_row_order_of_a_selected_dataset_is_respected() -> None:
    dataset = _pairs().select(list(reversed(range(30))))
    ours = IndexedNoDuplicatesBatchSampler(dataset, 8, False, generator=torch.Generator(), seed=1)
    theirs = NoDuplicatesBatchSampler(dataset, 8, False, generator=torch.Generator(), seed=1)
    assert list(ours) == list(theirs)
