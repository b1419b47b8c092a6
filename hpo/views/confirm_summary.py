"""The line ``hpo confirm`` prints after queuing confirmation runs: how many, of which trials, what next."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpo.results.confirm import QueuedRun


def describe_queued(runs: list[QueuedRun], study_name: str) -> str:
    """The runs queued now and already there, their trials and seeds, and the commands to run next."""
    queued = [r for r in runs if r.queued_now]
    trials = ", ".join(str(n) for n in dict.fromkeys(r.trial for r in runs))
    return (
        f"{len(queued)} confirmation runs queued ({len(runs) - len(queued)} already there) for trials {trials}, "
        f"seeds {min(r.seed for r in runs)}-{max(r.seed for r in runs)}; "
        f"run: hpo worker --study {study_name}, then: hpo confirm --study {study_name} --report"
    )
