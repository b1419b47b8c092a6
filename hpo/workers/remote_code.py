"""Before a trial loads its models: name each one that will run code from the Hub, refuse one not consented to.

The worker checked the study's config against the consent when it started; a trial's own params
can still name another model (a trial queued by hand, a config changed in storage), so each trial
is checked again before anything is loaded.
"""

from __future__ import annotations

import logging

from hpo.errors import UsageError
from hpo.settings.space import TrainingParams
from hpo.workers.context import WorkerContext

logger = logging.getLogger(__name__)


def trial_models(params: TrainingParams) -> list[str]:
    """The models a trial loads: its base model and, mining with a model of its own, the dense miner's."""
    mining = params.hard_negatives
    miner = mining.miner_model if mining is not None and mining.miner == "dense" else None
    return [params.model, *([miner] if miner else [])]


def check_remote_code(ctx: WorkerContext, trial_number: int, params: TrainingParams) -> None:
    """Log one line per model that will run Hub code; UsageError (the trial is not started) for a model
    the consent does not name."""
    if not ctx.config.trust_remote_code:
        return
    models = trial_models(params)
    refused = ctx.consent.refused(models)
    if refused:
        raise UsageError(
            f"not started: model '{refused[0]}' would run code from the Hub and --trust-remote-code "
            f"({ctx.consent.describe() or 'not given'}) does not name it"
        )
    for model in models:
        logger.warning("trial %d: model '%s' runs code from the Hub (--trust-remote-code)", trial_number, model)
