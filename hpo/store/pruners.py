"""A percentile pruner that judges a trial by its latest value rather than its best so far.

Optuna's median and percentile pruners compare a trial's *best* intermediate value with the other
trials' values at the same step. That suits a trial whose value is its best checkpoint. An hpo
trial's value is the model at the end of training, so a trial that scored well early and then
fell (a learning rate too high) is better judged by where it is now.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna


def latest_value_pruner(percentile: float, n_startup_trials: int, n_warmup_steps: int) -> optuna.pruners.BasePruner:
    """Prune when the latest value is outside the top ``percentile`` of completed trials at that step."""
    import numpy as np
    import optuna
    from optuna.study import StudyDirection
    from optuna.trial import TrialState

    class LatestValuePercentilePruner(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            step = trial.last_step
            completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if step is None or step < n_warmup_steps or not completed or len(completed) < n_startup_trials:
                return False
            value = trial.intermediate_values[step]
            if math.isnan(value):
                return True
            others = [t.intermediate_values[step] for t in completed if step in t.intermediate_values]
            if not others:
                return False
            maximize = study.direction == StudyDirection.MAXIMIZE
            rank = 100 - percentile if maximize else percentile
            threshold = float(np.nanpercentile(np.array(others, dtype=float), rank))
            if math.isnan(threshold):
                return False
            return value < threshold if maximize else value > threshold

    return LatestValuePercentilePruner()
