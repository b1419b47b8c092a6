"""What a tune run produced: the inferred table, the plan, the timeline and the final report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hpo.tune.plan import Plan
from hpo.tune.timeline import Timeline

if TYPE_CHECKING:
    from hpo.results.evaluation import FinalReport


@dataclass
class TuneResult:
    """What a tune run produced, for the CLI to print."""

    inferred: list[tuple[str, str]]
    plan: Plan
    timeline: Timeline
    study: str | None = None
    final: FinalReport | None = None
    lines: list[str] = field(default_factory=list)  # verdicts and notes, one line each
