"""What the core knows of a task's loaded data, and the fingerprint a study keeps of it."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol


class TaskData(Protocol):
    """A task's loaded, validated data (train and dev always; test only when asked for)."""

    @property
    def has_test(self) -> bool: ...

    def train_size(self) -> int:
        """Training samples in one epoch (the evaluation schedule is checked against it)."""
        ...

    def summary(self) -> dict[str, Any]:
        """Row counts and the like, stored on the study and shown in its note."""
        ...

    def fingerprint_payload(self) -> Any:
        """JSON-ready training and dev data (never the test split), as a worker would use them."""
        ...


def fingerprint(data: TaskData) -> str:
    """sha256 of the training and dev data: a worker whose data differs refuses to run."""
    payload = json.dumps(data.fingerprint_payload(), ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
