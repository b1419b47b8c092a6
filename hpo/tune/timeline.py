"""Predicted against actual time, per phase, kept in ``plan.json`` across runs of the same tune.

The budget covers the whole tune, resumed runs included: a run that resumes starts with the
seconds the earlier runs spent. Each phase's actual seconds are written when it ends (or is
interrupted), so Ctrl-C keeps them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hpo.tune.plan import RESERVE, Phase, Plan

PHASES = ("probe", "baselines", "search", "confirm", "final")


class Timeline:
    """The plan, its phases' actual seconds, and the clock of this run."""

    def __init__(self, path: Path, budget_seconds: float, plan: Plan | None, actual: dict[str, float]) -> None:
        self.path = path
        self.budget_seconds = budget_seconds
        self.plan = plan
        self.actual = actual
        self.started = time.monotonic() - sum(actual.values())
        # What each phase is expected to take: the plan's figures, refined by what the search measured.
        self.expected: dict[str, float] = plan.predicted() if plan is not None else {}

    @classmethod
    def resume(cls, path: Path, budget_seconds: float) -> Timeline:
        """The timeline in ``path`` (an earlier run of this tune), or a new one."""
        if not path.is_file():
            return cls(path, budget_seconds, None, {})
        stored = json.loads(path.read_text(encoding="utf-8"))
        plan = plan_from_dict(stored["plan"]) if stored.get("plan") else None
        actual = {k: float(v) for k, v in stored.get("actual_seconds", {}).items()}
        return cls(path, budget_seconds, plan, actual)

    def spent(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        return self.budget_seconds - self.spent()

    def deadline(self, phase: str) -> float:
        """When ``phase`` must end (monotonic clock): what the phases after it need is kept back."""
        later = PHASES[PHASES.index(phase) + 1 :]
        kept = sum(self.expected.get(name, 0.0) for name in later) + RESERVE * self.budget_seconds
        return self.started + self.budget_seconds - kept

    def refine(self, phase: str, seconds: float) -> None:
        """Expect ``phase`` to take ``seconds`` (measured on this run's own trials)."""
        self.expected[phase] = seconds
        self.save()

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self.expected = plan.predicted()
        self.save()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time ``name``; its seconds add to what earlier runs spent in it."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.actual[name] = self.actual.get(name, 0.0) + time.monotonic() - started
            self.save()

    def save(self) -> None:
        predicted = self.plan.predicted() if self.plan is not None else {}
        payload: dict[str, Any] = {
            "budget_seconds": self.budget_seconds,
            "plan": self.plan.to_dict() if self.plan is not None else None,
            "predicted_seconds": predicted,
            "refined_seconds": {k: v for k, v in self.expected.items() if v != predicted.get(k)},
            "actual_seconds": self.actual,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.path)

    def rows(self) -> list[tuple[str, float | None, float | None]]:
        """(phase, predicted, actual) for the report."""
        predicted = self.plan.predicted() if self.plan is not None else {}
        return [(name, predicted.get(name), self.actual.get(name)) for name in PHASES]


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """A plan as ``Plan.to_dict`` wrote it."""
    fields = dict(data)
    fields["phases"] = tuple(Phase(name, float(s)) for name, s in fields["phases"].items())
    for key in ("models", "batch_sizes", "epochs", "notes"):
        fields[key] = tuple(fields[key])
    return Plan(**fields)
