"""``hpo modal`` end to end with Modal's calls replaced at the boundary (``App.run``,
``Function.spawn``, the spawned calls): no token, network or account. The fake behaves as Modal's
client 1.6 does: ``App.run`` swallows a ``KeyboardInterrupt`` (``modal/runner.py``), and a call's
``get()`` raises the client's own network errors (``modal.exception.ConnectionError``) as well as
the container's. Covers waiting, progress polls that fail, containers that fail, network blips,
Modal's own errors and Ctrl-C, once and twice."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hpo.store.storage import StorageUrl
from tests.helpers import create_file_study, invoke, retrieval_config, retrieval_rows, write_config

modal = pytest.importorskip("modal", reason="the [modal] extra is not installed")

DONE = {"states": {"COMPLETE": 2}, "stopped_because": "study budget done", "error": None}


class FakeCall:
    """A spawned container: returns ``result``, raises ``error``, or blocks until ``release`` is set.
    Each ``get()`` first raises the next of ``blips`` (this machine's network errors), if any."""

    def __init__(
        self, result: Any = None, error: BaseException | None = None, blips: tuple[BaseException, ...] = ()
    ) -> None:
        self.result, self.error = result, error
        self.blips = list(blips)
        self.gets = 0
        self.release = threading.Event()
        self.release.set()
        self.cancelled: bool | None = None
        self.on_get: Any = None
        self.on_cancel: Any = None

    def get(self, timeout: float | None = None) -> Any:
        assert timeout is None  # wait for the end: never poll with a timeout
        self.gets += 1
        if self.blips:
            raise self.blips.pop(0)
        if self.on_get is not None:
            self.on_get()
        self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result

    def cancel(self, terminate_containers: bool = False) -> None:
        self.cancelled = terminate_containers
        if self.on_cancel is not None:
            self.on_cancel()
        self.release.set()


class FakeModal:
    """Stands in for Modal's server: records what was spawned, hands out prepared calls."""

    def __init__(self) -> None:
        self.calls: list[FakeCall] = []
        self.spawned: list[tuple[Any, ...]] = []
        self.arguments: list[dict[str, Any]] = []
        self.run_error: BaseException | None = None
        self.detach: bool | None = None

    @contextlib.contextmanager
    def run(self, detach: bool = False) -> Iterator[None]:
        self.detach = detach
        if self.run_error is not None:
            raise self.run_error
        print("modal: app running")  # as Modal streams container logs: to stdout
        try:
            yield
        except KeyboardInterrupt:  # modal/runner.py: prints, disconnects, and returns
            print("Disconnecting from Modal - This will terminate your Modal app in a few seconds.")
            return

    def spawn(self, *args: Any, **kwargs: Any) -> FakeCall:
        self.spawned.append(args)
        self.arguments.append(kwargs)
        if len(self.calls) < len(self.spawned):
            self.calls.append(FakeCall(DONE))
        return self.calls[len(self.spawned) - 1]


@pytest.fixture
def fake_modal(monkeypatch: pytest.MonkeyPatch) -> FakeModal:
    from hpo.cloud import launch as cloud

    fake = FakeModal()
    monkeypatch.setattr(modal.App, "run", lambda self, detach=False: fake.run(detach))
    monkeypatch.setattr(modal.Function, "spawn", lambda self, *args, **kwargs: fake.spawn(*args, **kwargs))
    monkeypatch.setattr(modal.App, "app_id", property(lambda self: "ap-fake123"))
    monkeypatch.setattr(modal, "enable_output", contextlib.nullcontext)
    monkeypatch.setattr(cloud, "check_reachable_from_cloud", lambda url: None)
    monkeypatch.setattr(cloud, "has_token", lambda: True)
    return fake


@pytest.fixture
def file_study(tmp_path: Path, tiny_model: str) -> str:
    storage = f"sqlite:///{tmp_path}/s.db"
    create_file_study(tmp_path, storage, tiny_model)
    return storage


def test_launch_waits_for_every_container_and_prints_their_results(fake_modal: FakeModal, file_study: str) -> None:
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "2", "--n-trials", "3")
    assert (result.exit_code, result.stderr) == (0, "modal: app running\n")  # logs to stderr, results to stdout
    assert result.stdout == (
        "container 0: {'COMPLETE': 2} (study budget done)\ncontainer 1: {'COMPLETE': 2} (study budget done)\n"
    )
    # the study and the redacted URL the container compares its secret with
    assert fake_modal.spawned == [("files", file_study)] * 2
    assert (
        fake_modal.arguments
        == [
            {
                "n_trials": 3,
                "timeout": None,
                "gpu": "A10G",  # the type its trials are priced as
                "trust_remote_code": "",
                "trial_timeout": 7200,
                "idle_timeout": 600,
            }
        ]
        * 2
    )
    assert fake_modal.detach is False


def test_detach_returns_after_spawning(fake_modal: FakeModal, file_study: str) -> None:
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "3", "--detach")
    assert (result.exit_code, result.stdout) == (
        0,
        "3 containers started on study files (detached); stop them with: modal app stop ap-fake123\n",
    )
    assert (len(fake_modal.spawned), fake_modal.detach) == (3, True)


def test_a_failed_container_is_reported_and_the_others_still_waited_for(fake_modal: FakeModal, file_study: str) -> None:
    config_error = {"states": {}, "stopped_because": "", "error": "study 'files' exists with a different config"}
    fake_modal.calls = [
        FakeCall(error=RuntimeError("CUDA error: out of memory\ntraceback...")),
        FakeCall(config_error),
        FakeCall(DONE),
    ]
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "3")
    assert result.stdout == (
        "container 0: failed: RuntimeError: CUDA error: out of memory\n"
        "container 1: failed: study 'files' exists with a different config\n"
        "container 2: {'COMPLETE': 2} (study budget done)\n"
    )
    assert (result.exit_code, result.stderr) == (1, "modal: app running\nerror: 2 of 3 containers failed (see above)\n")


def test_progress_polls_that_fail_do_not_end_the_launch(
    fake_modal: FakeModal, file_study: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hpo.cloud import launch as cloud
    from hpo.cloud.launch import prepare_launch, run_on_modal
    from hpo.cloud.modal_app import LaunchRequest
    from hpo.store import study
    from hpo.store.storage import open_storage as real_open

    opened: list[StorageUrl] = []
    real_load = study.load_stored_study
    polls: list[int] = []
    finished = threading.Event()

    def count_open(url: StorageUrl) -> Any:
        opened.append(url)
        return real_open(url)

    def flaky_load(*args: Any) -> Any:
        polls.append(1)
        if len(polls) <= 2:
            raise OSError("server closed the connection unexpectedly")
        if len(polls) == 4:
            finished.set()  # the containers finish after two good polls
        return real_load(*args)

    request = prepare_launch(LaunchRequest(StorageUrl.parse(file_study), "files", containers=2))
    monkeypatch.setattr(cloud, "open_storage", count_open)
    monkeypatch.setattr(study, "load_stored_study", flaky_load)
    fake_modal.calls = [FakeCall(DONE), FakeCall(DONE)]
    fake_modal.calls[0].release = finished
    with caplog.at_level(logging.INFO, logger="hpo.cloud.launch"):
        results = run_on_modal(request, poll_seconds=0.01).results
    assert [r.error for r in results] == [None, None]
    assert len(opened) == 1  # one storage for every poll
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["progress poll failed (the containers go on): server closed the connection unexpectedly"] * 2
    assert any(r.getMessage().startswith("files: ") for r in caplog.records if r.levelno == logging.INFO)


def test_a_progress_callback_that_raises_does_not_end_the_launch(fake_modal: FakeModal, file_study: str) -> None:
    from hpo.cloud.modal_app import LaunchRequest, ModalSettings, build_worker, launch

    released = threading.Event()
    fake_modal.calls = [FakeCall(DONE)]
    fake_modal.calls[0].release = released
    raised: list[int] = []

    def broken() -> None:
        raised.append(1)
        if len(raised) == 2:
            released.set()
        raise RuntimeError("monitoring bug")

    launched = launch(
        build_worker(ModalSettings()), LaunchRequest(StorageUrl.parse(file_study), "files"), broken, poll_seconds=0.01
    )
    assert [r.describe() for r in launched.results] == ["{'COMPLETE': 2} (study budget done)"]
    assert len(raised) >= 2


def test_ctrl_c_stops_the_containers_with_one_line(fake_modal: FakeModal, file_study: str) -> None:
    blocked = [FakeCall(DONE), FakeCall(DONE)]
    for call in blocked:
        call.release.clear()
    # The Ctrl-C arrives while the launch waits on the containers.
    blocked[0].on_get = lambda: os.kill(os.getpid(), signal.SIGINT)
    fake_modal.calls = blocked
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "2")
    assert (result.exit_code, result.stdout) == (130, "")
    assert result.stderr == (
        "modal: app running\n"
        "error: interrupted: asked Modal to stop 2 containers; the next worker re-queues the trials they "
        "were running once their heartbeats are stale\n"
    )
    assert [call.cancelled for call in blocked] == [True, True]


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            modal.exception.NotFoundError("Secret hpo-storage not found in environment main"),
            "Modal: Secret hpo-storage not found in environment main; create the secret from a file that holds "
            "HPO_STORAGE=...: modal secret create hpo-storage --from-dotenv FILE",
        ),
        (
            modal.exception.AuthError("Token ID is malformed"),
            "Modal rejected the token (Token ID is malformed); run 'modal token new'",
        ),
        (
            modal.exception.InvalidError("GPU type A10X is not supported"),
            "Modal rejected the launch (GPU type A10X is not supported); check --gpu 'A10X' "
            "(e.g. T4, L4, A10G, L40S, A100, H100), --cpu and --memory",
        ),
    ],
)
def test_modal_errors_are_one_line_with_the_fix(
    fake_modal: FakeModal, file_study: str, error: Exception, message: str
) -> None:
    fake_modal.run_error = error
    result = invoke("modal", "--study", "files", "--storage", file_study, "--gpu", "A10X")
    assert (result.exit_code, result.stderr) == (2, f"error: {message}\n")
    assert fake_modal.spawned == []


def test_a_gpu_spec_modal_cannot_parse_is_one_line(fake_modal: FakeModal, file_study: str) -> None:
    result = invoke("modal", "--study", "files", "--storage", file_study, "--gpu", "A100:x")
    assert (result.exit_code, result.stderr) == (
        2,
        "error: Modal rejected the launch (Invalid GPU count: x. Value must be an integer.); check --gpu 'A100:x' "
        "(e.g. T4, L4, A10G, L40S, A100, H100), --cpu and --memory\n",
    )
    assert fake_modal.spawned == []


def test_a_double_ctrl_c_is_one_line_and_exit_130(fake_modal: FakeModal, file_study: str) -> None:
    """The second Ctrl-C lands while the first is handled (cancelling the calls): it escapes into
    App.run, which swallows it as modal/runner.py does; the launch still ends with one line."""
    blocked = [FakeCall(DONE), FakeCall(DONE)]
    for call in blocked:
        call.release.clear()
    blocked[0].on_get = lambda: os.kill(os.getpid(), signal.SIGINT)
    blocked[0].on_cancel = lambda: os.kill(os.getpid(), signal.SIGINT)
    fake_modal.calls = blocked
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "2")
    assert (result.exit_code, result.stdout) == (130, "")
    assert result.stderr == (
        "modal: app running\n"
        "Disconnecting from Modal - This will terminate your Modal app in a few seconds.\n"
        "error: interrupted twice: interrupted: asked Modal to stop 2 containers; the next worker re-queues the "
        "trials they were running once their heartbeats are stale\n"
    )


def test_a_network_blip_on_this_machine_is_waited_out(
    fake_modal: FakeModal, file_study: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from hpo.cloud import modal_app

    monkeypatch.setattr(modal_app, "RETRY_DELAY_SECONDS", 0.01)
    blip = modal.exception.ConnectionError("Deadline exceeded")
    fake_modal.calls = [FakeCall(DONE, blips=(blip, blip)), FakeCall(DONE, blips=(OSError("Network is unreachable"),))]
    with caplog.at_level(logging.WARNING, logger="hpo.cloud.modal_app"):
        result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "2")
    assert (result.exit_code, result.stdout) == (
        0,
        "container 0: {'COMPLETE': 2} (study budget done)\ncontainer 1: {'COMPLETE': 2} (study budget done)\n",
    )
    assert [call.gets for call in fake_modal.calls] == [3, 2]
    assert [r.getMessage() for r in caplog.records] == [
        "waiting on container 0: ConnectionError: Deadline exceeded; asking again in 0.01 s",
        "waiting on container 0: ConnectionError: Deadline exceeded; asking again in 0.02 s",
        "waiting on container 1: OSError: Network is unreachable; asking again in 0.01 s",
    ]


def test_only_what_a_container_returned_is_recorded_as_its_failure(
    fake_modal: FakeModal, file_study: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpo.cloud import modal_app

    monkeypatch.setattr(modal_app, "RETRY_DELAY_SECONDS", 0.01)
    monkeypatch.setattr(modal_app, "LOST_CONTACT_SECONDS", 0.2)
    lost = modal.exception.ServiceError("connection reset")
    fake_modal.calls = [
        FakeCall(error=modal.exception.FunctionTimeoutError("Function timed out after 86400 s")),
        FakeCall(error=modal.exception.RemoteError("Function exited with code 3")),
        FakeCall(error=modal.exception.InputCancellation("Input was cancelled")),
        FakeCall(DONE, blips=(lost,) * 1000),  # this machine never gets through
    ]
    result = invoke("modal", "--study", "files", "--storage", file_study, "--containers", "4")
    assert result.stdout == (
        "container 0: failed: FunctionTimeoutError: Function timed out after 86400 s\n"
        "container 1: failed: RemoteError: Function exited with code 3\n"
        "container 2: failed: InputCancellation: Input was cancelled\n"
        "container 3: failed: no answer from Modal for 0.2 s (ServiceError: connection reset)\n"
    )
    assert [call.gets for call in fake_modal.calls[:3]] == [1, 1, 1]  # a remote result is not asked again
    assert result.exit_code == 1


def test_remote_code_consent_is_passed_to_every_container(
    fake_modal: FakeModal, tmp_path: Path, tiny_model: str
) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    train = tmp_path / "train.jsonl"
    train.write_text("".join(json.dumps(row) + "\n" for row in retrieval_rows(200)))
    raw = retrieval_config(tiny_model, study_name="remote", trust_remote_code=True)
    raw["data"] = {**raw["data"], "train": {"path": str(train)}}
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", storage).exit_code == 0
    refused = invoke("modal", "--study", "remote", "--storage", storage, "--containers", "2")
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"error: study 'remote' asks to run model code from the Hub (trust_remote_code: true) for {tiny_model}, "
        f"which --trust-remote-code does not name; if you trust it, run again with --trust-remote-code {tiny_model}\n",
    )
    assert fake_modal.spawned == []  # refused before any container started
    result = invoke(
        "modal", "--study", "remote", "--storage", storage, "--containers", "2", "--trust-remote-code", tiny_model
    )
    assert result.exit_code == 0, result.stderr
    assert [a["trust_remote_code"] for a in fake_modal.arguments] == [tiny_model, tiny_model]
