"""sentence-transformers' NO_DUPLICATES batches, computed on integer ids instead of dataset rows.

``NoDuplicatesBatchSampler`` reads every candidate row back from the Arrow dataset and compares
the rows' values as strings, again for every sample it defers; on large sets with repeated
queries (BioASQ: 14,986 pairs over 2,042 questions) that is most of the data path's time. This
subclass reads each column once, gives every distinct value an integer id, and runs the same
algorithm (same shuffle, same deferral order) on those ids: it yields exactly the batches the
original yields for the same seed and epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from sentence_transformers.base.sampler import (
    _EXCLUDE_DATASET_COLUMNS,
    NoDuplicatesBatchSampler,
    _sample_value_str,
)


class IndexedNoDuplicatesBatchSampler(NoDuplicatesBatchSampler):
    """Batches in which no value (of any column) occurs twice; values compared by interned id."""

    def __init__(self, dataset: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(dataset, *args, **kwargs)
        self.row_values = value_ids(self.dataset)

    def _iter_one_pass(
        self, get_sample_values: Callable[[int], Any], has_overlap: Callable[[Any, Any], bool]
    ) -> Iterator[list[int]]:
        """One shuffled pass, as the parent's: a sample whose values clash with the batch waits
        (in order) for a later batch."""
        import torch

        rows = self.row_values
        count = len(rows)
        # The parent's dtype choice: randperm's draws depend on it.
        dtype = torch.int32 if count <= 2**31 - 1 else torch.int64
        order = torch.randperm(count, generator=self.generator, dtype=dtype).tolist()
        following = list(range(1, count + 1))
        following[-1] = -1
        head = 0
        while head != -1:
            seen: set[int] = set()
            batch: list[int] = []
            position, previous = head, -1
            full = False
            while position != -1:
                after = following[position]
                index = order[position]
                values = rows[index]
                if not seen.isdisjoint(values):
                    previous, position = position, after
                    continue
                batch.append(index)
                if previous == -1:
                    head = after
                else:
                    following[previous] = after
                if len(batch) == self.batch_size:
                    full = True
                    yield batch
                    break
                seen.update(values)
                position = after
            if not full and not self.drop_last:
                yield batch


def value_ids(dataset: Any) -> list[tuple[int, ...]]:
    """Per row, the ids of its values: equal ids exactly when the original sampler's strings are equal."""
    columns = [c for c in dataset.column_names if c not in _EXCLUDE_DATASET_COLUMNS]
    table = dataset.with_format("arrow")  # a whole column at once, in the dataset's row order
    interned: dict[str, int] = {}
    per_column = [
        [interned.setdefault(_sample_value_str(v), len(interned)) for v in table[c].to_pylist()] for c in columns
    ]
    return list(zip(*per_column, strict=True)) if per_column else [() for _ in range(len(dataset))]
