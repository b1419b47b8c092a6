"""``hpo tune``: data and a budget in, a tested model out, in phases that each end on time.

Infer the task and columns, probe the hardware, plan, write ``study.yaml`` and ``plan.json``;
then create the study, score the candidates zero-shot, search (the default recipe first), confirm
the best configs with new seeds when the budget allows, retrain the winner and the default
recipe and test both. Every phase is the code of the command a user would run by hand. The same
command again resumes: the study is in the storage and each phase skips what is done. A phase
that runs late shrinks what follows (fewer confirmation seeds, no confirmation) and says so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpo import attrs
from hpo.errors import StudyError
from hpo.tune.plan import RESERVE, Budget, Plan, describe_plan
from hpo.tune.request import TuneRequest
from hpo.tune.result import TuneResult
from hpo.tune.timeline import Timeline

if TYPE_CHECKING:
    from hpo.store.study import StoredStudy

logger = logging.getLogger(__name__)
PROBE_SHARE = 0.05
NOT_RUN = "not run: hpo tune's search time ran out"


def tune(request: TuneRequest, echo: Callable[[str], None]) -> TuneResult:
    """Run (or resume) the whole tune; ``echo`` prints a result line as soon as it is known."""
    request.output.mkdir(parents=True, exist_ok=True)
    timeline = Timeline.resume(request.output / "plan.json", request.budget_seconds)
    study_file = request.output / "study.yaml"
    if timeline.plan is None or not study_file.is_file():
        inferred, plan = _infer_and_plan(request, timeline, echo)
    else:
        echo(f"resuming the tune in {request.output} ({timeline.spent():.0f} s spent so far)")
        inferred, plan = [], timeline.plan
    result = TuneResult(inferred, plan, timeline)
    for line in describe_plan(plan):
        echo(line)
    if request.plan_only:
        echo(f"plan written to {request.output / 'plan.json'} and {study_file}")
        return result
    _run_phases(request, result, study_file, echo)
    return result


def _infer_and_plan(request: TuneRequest, timeline: Timeline, echo: Callable[[str], None]) -> tuple[Any, Plan]:
    from hpo.tune.prepare import prepare

    with timeline.phase("probe"):
        prepared = prepare(request, request.budget_seconds * PROBE_SHARE)
    for key, value in prepared.inferred.table():
        echo(f"{key:>16}  {value}")
    plan = prepared.plan(Budget(request.budget_seconds, timeline.spent()), request.workers)
    prepared.write(plan, request.output / "study.yaml")
    timeline.set_plan(plan)
    return prepared.inferred.table(), plan


def _run_phases(request: TuneRequest, result: TuneResult, study_file: Path, echo: Callable[[str], None]) -> None:
    from hpo.results.new_study import create_study_from_file
    from hpo.tune.final import final_phase, final_table
    from hpo.tune.report import write_report

    timeline, plan = result.timeline, result.plan
    name = result.study = create_study_from_file(str(study_file), request.storage_url, load_if_exists=True)
    stored = _load(request, name)
    stored.config.check_remote_code(request.trust_remote_code)
    with timeline.phase("baselines"):
        _baselines(stored, request)
    with timeline.phase("search"):
        _search(request, name, timeline, plan, echo)
    unrun = close_search(_load(request, name), echo)
    top_k, seeds = _shrunk_confirmation(plan, timeline, echo) if not unrun else (0, 0)
    if top_k:
        with timeline.phase("confirm"):
            _confirm(request, stored, plan, seeds, timeline.deadline("confirm"))
    with timeline.phase("final"):
        result.final, result.lines = final_phase(_load(request, name), request, top_k > 0)
    for line in [final_table(result.final, stored.config.objective), *result.lines]:
        echo(line)
    write_report(result, request.output / "report.md", stored.config.objective)
    late = timeline.spent() - request.budget_seconds
    echo(f"wall time {timeline.spent():.0f} s of a {request.budget_seconds:.0f} s budget ({late:+.0f} s)")
    echo(f"wrote {request.output}: model/, best.yaml, study.yaml, plan.json, report.md")


def _load(request: TuneRequest, name: str) -> StoredStudy:
    """The study as it is now (a fresh read: the workers wrote to it from other processes)."""
    from hpo.store.storage import open_storage
    from hpo.store.study import load_stored_study

    return load_stored_study(open_storage(request.storage_url), name)


def _baselines(stored: StoredStudy, request: TuneRequest) -> None:
    """Score each candidate zero-shot, unless ``hpo baseline`` already stored it."""
    from hpo.results.baseline import run_baselines

    done = stored.study.user_attrs.get(attrs.BASELINES, {})
    if all(m in done for m in stored.config.search_space.searched_models()):
        logger.info("zero-shot baselines: already stored")
        return
    run_baselines(stored, request.trust_remote_code)


def _search(request: TuneRequest, name: str, timeline: Timeline, plan: Plan, echo: Callable[[str], None]) -> None:
    """Run the queued trials; when they run faster than planned, queue more until the deadline."""
    from hpo.store.study import queue_more_trials
    from hpo.tune.measure import measure
    from hpo.tune.plan import WORKER_START
    from hpo.tune.workers import run_workers

    while True:
        run_workers(request, name, timeline.deadline("search"), plan.trial_seconds)
        study = _load(request, name).study
        measured = measure(study)
        if measured is None:
            return  # nothing to learn from yet
        timeline.refine("final", measured.final_seconds(plan))
        if any(t.state.name == "WAITING" for t in study.get_trials(deepcopy=False)):
            return  # the deadline stopped the queue: close_search records what did not run
        left = timeline.deadline("search") - time.monotonic() - WORKER_START
        more = int(left * plan.workers / measured.trial_seconds)
        if more < 1:
            return
        queue_more_trials(study, more)
        echo(f"trials ran faster than planned ({measured.trial_seconds:.0f} s each): {more} more queued")


def close_search(stored: StoredStudy, echo: Callable[[str], None]) -> int:
    """Mark the search trials the deadline left queued as failed, with the reason, so the study
    says what happened (and no later worker runs them); how many the search did not run."""
    import optuna

    from hpo.store.trial_kinds import search_trials

    study = stored.study
    storage = study._storage
    left = search_trials(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))
    for trial in left:
        storage.set_trial_user_attr(trial._trial_id, attrs.FAIL_REASON, NOT_RUN)
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    unrun = [
        t for t in search_trials(study.get_trials(deepcopy=False)) if t.user_attrs.get(attrs.FAIL_REASON) == NOT_RUN
    ]
    if left:
        echo(f"{len(left)} queued trials not run: the search's time ran out (marked failed, '{NOT_RUN}')")
    if unrun:
        echo("confirmation skipped: the search ran out of time before its queue was done")
    return len(unrun)


def _shrunk_confirmation(plan: Plan, timeline: Timeline, echo: Callable[[str], None]) -> tuple[int, int]:
    """The plan's confirmation, with fewer seeds or none when the search ran late."""
    if not plan.confirm_top_k:
        return 0, 0
    room = timeline.left() - timeline.expected.get("final", 0.0) - RESERVE * timeline.budget_seconds
    for seeds in range(plan.confirm_seeds, 1, -1):
        if plan.confirm_top_k * seeds * plan.trial_seconds / plan.workers <= room:
            if seeds < plan.confirm_seeds:
                echo(f"confirmation shrunk to {seeds} seeds: the search ran late")
            return plan.confirm_top_k, seeds
    echo("confirmation skipped: the search ran late and the final retrain needs the time left")
    return 0, 0


def _confirm(request: TuneRequest, stored: StoredStudy, plan: Plan, seeds: int, deadline: float) -> None:
    from hpo.results.confirm import queue_confirmation
    from hpo.tune.workers import run_workers

    try:
        queue_confirmation(stored, plan.confirm_top_k, seeds)
    except StudyError as exc:
        logger.warning("confirmation skipped: %s", exc)
        return
    run_workers(request, stored.study.study_name, deadline, plan.trial_seconds)
