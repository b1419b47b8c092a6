"""Text pairs with a label or score per pair: the data of pair classification and similarity tasks.

Pairs that share a text (after normalization) stay in one split, so no text is trained on and
evaluated on at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

from hpo.data import rows
from hpo.data.rows import Field
from hpo.data.sources import Row
from hpo.data.splits import carve, pair_group_keys, pair_keys, sample
from hpo.errors import DataError
from hpo.settings.config import StudyConfig

LabelReader = Callable[[Row, int, str, Field], float]


@dataclass(frozen=True)
class PairSplit:
    """Text pairs and one label or score per pair."""

    text1: list[str] = field(default_factory=list)
    text2: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    def __add__(self, other: PairSplit) -> PairSplit:
        return PairSplit(self.text1 + other.text1, self.text2 + other.text2, self.labels + other.labels)

    def to_dataset(self, label_column: str) -> Any:
        """A ``datasets.Dataset`` with the columns pair losses expect: sentence1, sentence2, ``label_column``."""
        from datasets import Dataset

        return Dataset.from_dict({"sentence1": self.text1, "sentence2": self.text2, label_column: self.labels})


@dataclass(frozen=True)
class PairData:
    """Training and evaluation pairs."""

    train: PairSplit
    dev: PairSplit
    test: PairSplit | None = None

    @property
    def has_test(self) -> bool:
        return self.test is not None

    def with_dev_in_training(self) -> Self:
        """The same data with the dev pairs added to training."""
        return dataclasses.replace(self, train=self.train + self.dev)

    def evaluation_split(self, name: str) -> PairSplit:
        """The dev or test pairs; an error when the test split was not loaded."""
        pairs = self.dev if name == "dev" else self.test
        if pairs is None:
            raise ValueError(f"the {name} split was not loaded")
        return pairs

    def train_size(self) -> int:
        return len(self.train)

    def summary(self) -> dict[str, Any]:
        return {"train_pairs": len(self.train), "dev_pairs": len(self.dev)}

    def fingerprint_payload(self) -> Any:
        return {
            "train": [self.train.text1, self.train.text2, self.train.labels],
            "dev": [self.dev.text1, self.dev.text2, self.dev.labels],
        }


def load_pair_splits(
    config: StudyConfig,
    columns: dict[str, str],
    label_role: str,
    label: LabelReader,
    include_test: bool,
    if_constant: str,
) -> tuple[PairSplit, PairSplit, PairSplit | None]:
    """Train, dev and (when asked for) test pairs, read with ``columns`` and carved by text group.

    ``label`` reads the role ``label_role`` (a 0/1 label, a similarity score) of one row; a train or
    dev split whose labels are all the same is refused, ``if_constant`` saying what is needed. Unless
    ``data.positive_label`` names a label, a split whose labels mix numbers and text is refused at
    the first text.
    """
    fields = {role: Field.of(role, columns) for role in ("text1", "text2", label_role)}
    numeric = config.data.positive_label is None  # labels named by data.positive_label may be text

    def parse(raw: list[Row], where: str) -> list[tuple[str, str, float]]:
        if numeric:
            rows.numbers_only(raw, where, fields[label_role])
        return [
            (
                rows.text(row, i, where, fields["text1"]),
                rows.text(row, i, where, fields["text2"]),
                label(row, i, where, fields[label_role]),
            )
            for i, row in enumerate(raw, 1)
        ]

    # A carved split keeps pairs that share a text together; a given split loses only the pairs it repeats.
    splits = carve(
        config.data,
        config.seed,
        parse,
        group_keys=lambda records: pair_group_keys([(a, b) for a, b, _ in records]),
        leak_keys=lambda records: pair_keys([(a, b) for a, b, _ in records]),
    )

    def to_split(records: list[tuple[str, str, float]]) -> PairSplit:
        return PairSplit([r[0] for r in records], [r[1] for r in records], [r[2] for r in records])

    train = to_split(sample(splits["train"], config.data.max_train_samples, config.seed))
    dev = to_split(sample(splits["dev"], config.data.max_dev_queries, config.seed))
    test = (
        to_split(sample(splits["test"], config.data.max_test_queries, config.seed))
        if include_test and splits["test"]
        else None
    )
    for name, split in (("train", train), ("dev", dev)):
        rows.require(split.labels, name, "pairs")
        if len(set(split.labels)) < 2:
            raise DataError(f"data.{name}: all {len(split)} pairs have {label_role} {split.labels[0]}; {if_constant}")
    return train, dev, test
