"""Where ``hpo tune``'s DATA comes from: a folder of split files, or a dataset on the Hub.

Either way the result is the same pair: each split's :class:`DataSource` (what the study file
will name, so ``create-study`` reads exactly what the tune read) and its rows (what inference looks
at). A Hub dataset is read once, all splits together, through the same loader as ``data.*.hub``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hpo.errors import UsageError
from hpo.settings.config import DataSource
from hpo.tune.infer import SPLITS, find_files

Row = dict[str, Any]
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def read_data(data: Path) -> tuple[dict[str, DataSource], dict[str, list[Row]]]:
    """Each split's source and rows, from a folder or a Hub dataset id."""
    if data.is_dir():
        return _read_folder(data)
    if data.exists() or not HUB_ID.fullmatch(str(data)):
        raise UsageError(f"DATA {data}: not a folder or a Hub dataset id (give a folder of train/dev/test files)")
    return _read_hub(str(data))


def _read_folder(folder: Path) -> tuple[dict[str, DataSource], dict[str, list[Row]]]:
    from hpo.data.sources import read_rows

    sources = {role: DataSource(path=str(path)) for role, path in find_files(folder).items()}
    rows = {role: read_rows(source, f"DATA {Path(str(source.path)).name}") for role, source in sources.items()}
    return sources, rows


def _read_hub(dataset_id: str) -> tuple[dict[str, DataSource], dict[str, list[Row]]]:
    from hpo.data.sources import read_hub_splits

    splits = read_hub_splits(dataset_id, f"DATA {dataset_id} (no such folder here)")
    sources: dict[str, DataSource] = {}
    rows: dict[str, list[Row]] = {}
    for role, names in SPLITS.items():
        split = next((name for name in names if name in splits), None)
        if split is not None:
            sources[role] = DataSource(hub=dataset_id, split=split)
            rows[role] = splits[split]
    if "train" not in sources:
        raise UsageError(f"DATA {dataset_id}: no train split on the Hub (splits: {', '.join(sorted(splits))})")
    return sources, rows
