"""Several workers on one GPU, on CPU: admission by an injected memory reader, a neighbour's OOM simulated
inside a real tiny-model trial."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from hpo.store.storage import StorageUrl
from hpo.training.gpu_memory import GIB, Admission, GpuSharing, MemoryReader
from hpo.training.run import train_trial
from hpo.workers.worker import run_worker
from tests.helpers import hpo, load_study, retrieval_config, write_config


def _study(tmp_path: Path, tiny_model: str, n_trials: int) -> str:
    raw = retrieval_config(tiny_model, budget={"n_trials": n_trials})
    raw["search_space"]["learning_rate"] = 1e-3
    raw["fault_tolerance"] = {"max_consecutive_failures": 2}
    raw["pruner"] = {"type": "none"}  # every trial completes: the states below are exact
    storage = f"sqlite:///{tmp_path}/study.db"
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    return storage


def _oom_in_first_trials(times: int) -> Any:
    """Real training of the tiny model that runs out of memory after its first step, ``times`` times."""
    left = [times]

    class Crowded:
        def __init__(self, reporter: Any) -> None:
            self.reporter = reporter

        def __getattr__(self, name: str) -> Any:
            return getattr(self.reporter, name)

        def progress(self, samples: int, total: int) -> None:
            self.reporter.progress(samples, total)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    def train(task: Any, params: Any, data: Any, config: Any, reporter: Any, seed: int | None = None) -> Any:
        if left[0] > 0:
            left[0] -= 1
            reporter = Crowded(reporter)
        return train_trial(task, params, data, config, reporter, seed=seed)

    return train


def _sharing(reader: MemoryReader, poll_seconds: float = 0.01) -> GpuSharing:
    return GpuSharing(Admission(reader, poll_seconds=poll_seconds), reader, "bf16")


def test_a_trial_crowded_out_by_a_neighbour_is_requeued_not_failed(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=2)
    neighbours = functools.partial(lambda: (20 * GIB, 80 * GIB))  # 60 GiB held by others
    summary = run_worker(
        StorageUrl.parse(storage), "tiny-retrieval", train=_oom_in_first_trials(2), gpu=_sharing(neighbours)
    )
    assert summary.states == {"REQUEUED": 2, "COMPLETE": 2}  # two crowded out in a row: no failure streak
    assert summary.stopped_because == "study budget done"
    study = load_study(storage)
    failed = [t for t in study.trials if t.state.name == "FAIL"]
    assert [t.user_attrs["neighbour_oom_mb"] for t in failed] == [60 * 1024, 60 * 1024]
    assert failed[0].user_attrs["fail_reason"] == (
        "crowded out: OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB "
        "while other processes held 60.0 GiB; re-queued"
    )
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 2  # the budget is met
    rerun = next(t for t in study.trials if t.user_attrs.get("replaces_trial") == failed[0].number)
    assert rerun.params == failed[0].params and rerun.user_attrs["oom_requeues"] == 1
    admitted = complete[0].user_attrs["gpu_admission"]
    assert admitted["free_mb"] == 20 * 1024 and admitted["waited_seconds"] == 0.0 and admitted["estimate_mb"] > 0


def test_an_oom_with_the_gpu_to_itself_fails_the_trial(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=1)
    alone = functools.partial(lambda: (79 * GIB, 80 * GIB))
    summary = run_worker(
        StorageUrl.parse(storage), "tiny-retrieval", n_trials=1, train=_oom_in_first_trials(1), gpu=_sharing(alone)
    )
    assert summary.states == {"FAIL": 1}
    failed = load_study(storage).trials[0]
    assert failed.user_attrs["fail_reason"].startswith("OutOfMemoryError: CUDA out of memory")
    assert "neighbour_oom_mb" not in failed.user_attrs


def test_a_trial_waits_for_memory_a_neighbour_frees(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=1)
    readings = iter([(0, 80 * GIB)] * 3)
    summary = run_worker(
        StorageUrl.parse(storage),
        "tiny-retrieval",
        train=train_trial,
        gpu=_sharing(lambda: next(readings, (70 * GIB, 80 * GIB)), poll_seconds=0.2),
    )
    assert summary.states == {"COMPLETE": 1}
    assert summary.trials_per_hour > 0
    assert load_study(storage).trials[0].user_attrs["gpu_admission"]["waited_seconds"] >= 0.6  # three polls
