"""Delete a study with everything hpo stored in it, so that a name can be used again.

Everything hpo keeps of a study lives in the Optuna study: its config, data fingerprint, data
summary and baselines (study attributes), its queued budget (WAITING trials) and every trial's
record (states, values, attributes, heartbeats). Deleting the study deletes all of it. A study
whose workers hold RUNNING trials is refused unless forced: those workers would fail at their
next write. The per-machine cache of tokens and mined negatives is not the study's (studies on the
same data share it) and stays.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hpo import attrs
from hpo.errors import StudyError
from hpo.store.study import half_created

if TYPE_CHECKING:
    import optuna

    from hpo.store.storage import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeletedStudy:
    """A study that was deleted: its name, where it was, and how many of its trials were in each state."""

    name: str
    storage: str
    trials: dict[str, int]

    def describe(self) -> str:
        """One line: what was deleted, with its trials by state."""
        total = sum(self.trials.values())
        states = ", ".join(f"{count} {state.lower()}" for state, count in sorted(self.trials.items()))
        return f"deleted study '{self.name}' from {self.storage}: {total} trials" + (f" ({states})" if states else "")


def delete_study(storage: Storage, name: str, force: bool = False, action: str = "delete") -> DeletedStudy:
    """Delete the study ``name`` and its trials (the queued budget included).

    Refused while trials are RUNNING unless ``force`` (``action`` names what --force would do in
    the refusal: delete, replace). A study not made by ``hpo create-study`` is refused: hpo
    deletes only its own studies.
    """
    import optuna

    study = _find(storage, name)
    if attrs.CONFIG not in study.user_attrs and not half_created(study):
        raise StudyError(
            f"study '{name}' was not created by hpo create-study (it has no stored config); "
            "hpo deletes only its own studies"
        )
    trials = study.get_trials(deepcopy=False)
    running = [t.number for t in trials if t.state == optuna.trial.TrialState.RUNNING]
    if running and not force:
        raise StudyError(
            f"study '{name}' has {_running(running)} ({_numbers(running)}): stop its workers first, "
            f"or add --force to {action} it anyway"
        )
    if running:
        logger.warning("deleting study '%s' with %s: its workers fail at their next write", name, _running(running))
    counts = Counter(t.state.name for t in trials)
    optuna.delete_study(study_name=name, storage=storage.backend)
    return DeletedStudy(name, str(storage.url), dict(counts))


def _find(storage: Storage, name: str) -> optuna.Study:
    import optuna

    names = storage.study_names()
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise StudyError(f"study '{name}' not found in {storage.url}{hint}")
    return optuna.load_study(study_name=name, storage=storage.backend)


def _running(numbers: list[int]) -> str:
    return f"{len(numbers)} RUNNING trial" + ("" if len(numbers) == 1 else "s")


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:5])
    return ("trial " if len(numbers) == 1 else "trials ") + shown + (", ..." if len(numbers) > 5 else "")
