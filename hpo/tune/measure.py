"""What the search measured on its own trials: how long a trial takes here, and how fast a trained
model encodes. The probe's figures are a guess from a few steps; these replace them once trials
have run, so the search can use the budget the plan could not foresee, and the final phase is
expected to take what its two retrains and tests will really take."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo import attrs
from hpo.store.trial_kinds import search_trials

if TYPE_CHECKING:
    import optuna

    from hpo.tune.plan import Plan


@dataclass(frozen=True)
class Measured:
    trial_seconds: float  # mean wall seconds of an ended search trial, pruned ones included
    complete_seconds: float  # median wall seconds of a complete one (what a retrain costs)
    encode_per_second: float | None  # texts a trained model encodes per second here

    def final_seconds(self, plan: Plan) -> float:
        """The final phase: two retrains, each tested on the whole test split."""
        test = plan.test_texts / self.encode_per_second if self.encode_per_second else 0.0
        return 2 * (self.complete_seconds + test)


def measure(study: optuna.Study) -> Measured | None:
    """The figures of the study's ended search trials; None before one has completed."""
    ended = [
        t
        for t in search_trials(study.get_trials(deepcopy=False))
        if t.state.name in ("COMPLETE", "PRUNED") and t.datetime_start and t.datetime_complete
    ]
    complete = [t for t in ended if t.state.name == "COMPLETE"]
    if not complete:
        return None
    seconds = [(t.datetime_complete - t.datetime_start).total_seconds() for t in ended]  # type: ignore[operator]
    whole = [(t.datetime_complete - t.datetime_start).total_seconds() for t in complete]  # type: ignore[operator]
    rates = [float(r) for t in complete if (r := t.user_attrs.get(attrs.ENCODE_PER_SECOND))]
    return Measured(statistics.mean(seconds), statistics.median(whole), statistics.median(rates) if rates else None)
