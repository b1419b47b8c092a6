"""Every task hpo knows, by the name a study config gives in ``objective``.

Adding a task: one module in this package that defines a :class:`~hpo.training.task.Task`, and one
line here.
"""

from __future__ import annotations

from typing import Any

from hpo.training.task import Task
from objectives import pair_classification, retrieval, similarity

TASKS: dict[str, Task[Any]] = {
    retrieval.TASK.name: retrieval.TASK,
    pair_classification.TASK.name: pair_classification.TASK,
    similarity.TASK.name: similarity.TASK,
}


def get_task(name: str) -> Task[Any]:
    """The task named ``name``; the config validation has checked that it exists."""
    return TASKS[name]
