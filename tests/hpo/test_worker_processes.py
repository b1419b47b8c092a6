"""Worker processes: children that die with their parent, a bounded number of them, their share of the CPU
cores, the consent that names the models whose code runs, and a stored config bound by its digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpo import attrs
from hpo.errors import UsageError
from hpo.settings.remote_code import RemoteCodeConsent
from hpo.store.config_file import config_digest
from hpo.workers import supervisor
from hpo.workers.capacity import machine_cores
from tests.helpers import hpo, invoke, load_study, retrieval_config, write_config

CONSENT_FORM = "--trust-remote-code MODEL[,MODEL] or --trust-remote-code all"


def _study(tmp_path: Path, tiny_model: str, n_trials: int, epochs: int = 1) -> str:
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(tiny_model, budget={"n_trials": n_trials})
    raw["search_space"]["epochs"] = epochs
    created = hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage)
    assert created.returncode == 0, created.stderr
    return storage


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _wait_for(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _started_children(log: Path) -> list[int]:
    """The pids of the children a parent logged as started."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [int(line.split("worker pid ")[1].split()[0]) for line in lines if line.endswith(" started")]


PARENTS = {
    "workers": ["-m", "hpo", "--log-level", "DEBUG", "worker", "--study", "tiny-retrieval", "--workers", "2"],
    # The parent sees two GPUs, as test_supervisor fakes them; its children then run on whatever device exists.
    "gpus": [
        "-c",
        "import sys; from hpo.workers import supervisor; supervisor._gpu_count = lambda: 2; from hpo.cli import main; "
        "sys.argv = ['hpo', '--log-level', 'DEBUG', 'worker', '--study', 'tiny-retrieval', '--gpus', '0,1']; main()",
    ],
}


@pytest.mark.parametrize("kind", list(PARENTS))
def test_a_parent_killed_with_sigkill_leaves_no_child_alive(tmp_path: Path, tiny_model: str, kind: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=2, epochs=20)
    log = tmp_path / "parent.log"
    with log.open("w") as err:
        parent = subprocess.Popen(
            [sys.executable, *PARENTS[kind]], env={**os.environ, "HPO_STORAGE": storage}, stderr=err
        )
    try:
        _wait_for(lambda: len(_started_children(log)) == 2, 120, "the parent started no two children")
        _wait_for(lambda: log.read_text().count("following parent pid") == 2, 120, "the children did not start")
        children = _started_children(log)
        assert all(_alive(pid) for pid in children)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        _wait_for(lambda: not any(_alive(pid) for pid in children), 5, f"children still alive: {children}")
    finally:
        parent.kill()
        for pid in _started_children(log):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


_CHILD = (
    "import os, sys, time\n"
    "from hpo.workers.parent_watch import follow_parent\n"
    "if sys.argv[1] == 'follow':\n"
    "    follow_parent(os.environ, death_signal=False)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)
_PARENT = (
    "import os, subprocess, sys, time\n"
    "from hpo.workers.parent_watch import ParentLink\n"
    "link = ParentLink()\n"
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]], env={**os.environ, **link.env()},\n"
    "                         pass_fds=(link.read_fd,))\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(120)\n"
)


@pytest.mark.parametrize("mode", ["follow", "ignore"])
def test_the_pipe_alone_ends_a_child_whose_parent_died(mode: str) -> None:
    """Without the kernel's death signal (not Linux), the watched pipe ends the child; a child that does not
    watch it outlives its parent, which shows the pipe is what ends it."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, _CHILD, mode], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert parent.stdout.readline() == "ready\n"
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        if mode == "follow":
            _wait_for(lambda: not _alive(child), 5, "the child outlived its parent")
        else:
            time.sleep(2)
            assert _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_workers_beyond_the_machine_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(supervisor, "_gpu_count", lambda: 0)
    cores = machine_cores()
    db = f"sqlite:///{tmp_path}/study.db"
    refused = invoke("worker", "--study", "s", "--workers", "100000", "--storage", db)
    assert refused.exit_code == 2
    assert refused.stderr == (
        f"error: --workers 100000: 100000 workers is more than this machine can run (at most {4 * cores}: "
        f"4 per CPU core or GPU, with {cores} cores and 0 GPUs); start fewer\n"
    )
    monkeypatch.setattr(supervisor, "_gpu_count", lambda: 1)
    too_many = 4 * cores + 1
    with pytest.raises(UsageError) as info:
        supervisor.gpu_slots("0", per_gpu=too_many)
    assert str(info.value) == (
        f"--gpus 0 --per-gpu {too_many}: {too_many} workers is more than this machine can run (at most {4 * cores}: "
        f"4 per CPU core or GPU, with {cores} cores and 1 GPUs); start fewer"
    )
    assert not (tmp_path / "study.db").exists()


def test_no_more_workers_than_trials_left_each_with_its_share_of_the_cores(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=2)
    ran = hpo("worker", "--study", "tiny-retrieval", "--workers", "3", storage=storage)
    assert ran.returncode == 0, ran.stderr[-3000:]
    cores = machine_cores()
    threads = max(1, cores // 2)
    plural = "s" if threads != 1 else ""
    assert "study 'tiny-retrieval' has 2 trials left to run: starting 2 of 3 workers" in ran.stderr
    assert f"2 workers share {cores} CPU cores: {threads} thread{plural} each" in ran.stderr
    # What each child set, as its torch reports it after setting it.
    assert ran.stderr.count(f"this worker uses {threads} CPU thread{plural} (its share of the machine's cores)") == 2
    assert ran.stderr.count("worker pid") == 4  # two started, two exited: no third
    assert " with 2 workers: " in ran.stdout
    assert [t.state.name for t in load_study(storage).trials].count("WAITING") == 0

    finished = hpo("worker", "--study", "tiny-retrieval", "--workers", "3", storage=storage)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert finished.stdout == "study 'tiny-retrieval' has no trials left to run: no worker started\n"
    assert "worker pid" not in finished.stderr


def test_a_changed_stored_config_is_refused(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=2)
    study = load_study(storage)
    validated = study.user_attrs[attrs.CONFIG]
    assert study.user_attrs[attrs.CONFIG_DIGEST] == config_digest(validated)
    changed = {**validated, "search_space": {**validated["search_space"], "model": "org/other-model"}}
    study.set_user_attr(attrs.CONFIG, changed)  # what anyone who can write the storage can do
    message = (
        "error: study 'tiny-retrieval': its stored config differs from the one create-study validated "
        f"(digest {config_digest(validated)[:19]}..., now {config_digest(changed)[:19]}...); it was changed in the "
        "storage: create a new study from the config you mean (hpo create-study)\n"
    )
    worker = invoke("worker", "--study", "tiny-retrieval", "--storage", storage)
    assert worker.exit_code == 2 and worker.stderr == message
    parent = invoke("worker", "--study", "tiny-retrieval", "--workers", "2", "--storage", storage)
    assert parent.exit_code == 2 and parent.stderr == message  # refused before any child starts
    assert [t.state.name for t in load_study(storage).trials] == ["WAITING", "WAITING"]


def test_the_consent_names_models_or_all() -> None:
    assert RemoteCodeConsent.parse(None) == RemoteCodeConsent.parse("") == RemoteCodeConsent()
    named = RemoteCodeConsent.parse("org/a, org/b")
    assert named.allows("org/a") and named.allows("org/b") and not named.allows("org/c")
    assert named.refused(["org/a", "org/c", "org/c"]) == ["org/c"]
    assert named.cli_args() == ["--trust-remote-code", "org/a,org/b"]
    every = RemoteCodeConsent.parse("all")
    assert every.allows("anything") and every.cli_args() == ["--trust-remote-code", "all"]
    assert RemoteCodeConsent().cli_args() == [] and not RemoteCodeConsent().allows("org/a")


def test_the_consent_from_the_environment_names_models(tmp_path: Path) -> None:
    old = invoke("evaluate", "m", "--config", f"{tmp_path}/nope.yaml", env={"HPO_TRUST_REMOTE_CODE": "1"})
    assert old.exit_code == 2
    assert old.stderr == f"error: $HPO_TRUST_REMOTE_CODE=1: name the models you trust: {CONSENT_FORM}\n"
    named = invoke("evaluate", "m", "--config", f"{tmp_path}/nope.yaml", env={"HPO_TRUST_REMOTE_CODE": "org/a"})
    assert named.stderr == f"error: {tmp_path}/nope.yaml: config file not found\n"  # the consent was accepted


def test_a_trial_whose_model_the_consent_does_not_name_is_not_started(tmp_path: Path, tiny_model: str) -> None:
    """A trial's own params naming a model outside the consent (queued by hand): refused before it loads."""
    from hpo.store.config_file import load_config
    from hpo.workers.context import WorkerContext
    from hpo.workers.remote_code import check_remote_code
    from tests.helpers import training_params

    config = load_config(write_config(tmp_path, retrieval_config(tiny_model, trust_remote_code=True)))
    ctx = WorkerContext(None, None, config, None, None, None, None, consent=RemoteCodeConsent.parse(tiny_model))  # type: ignore[arg-type]
    check_remote_code(ctx, 3, training_params(model=tiny_model))
    with pytest.raises(UsageError) as info:
        check_remote_code(ctx, 4, training_params(model="org/queued-by-hand"))
    assert str(info.value) == (
        f"not started: model 'org/queued-by-hand' would run code from the Hub and --trust-remote-code ({tiny_model}) "
        "does not name it"
    )


def test_a_second_stop_signal_is_reported_as_asked_and_the_parent_exits_130(tmp_path: Path, tiny_model: str) -> None:
    storage = _study(tmp_path, tiny_model, n_trials=2, epochs=20)
    parent = subprocess.Popen(
        [sys.executable, "-m", "hpo", "worker", "--study", "tiny-retrieval", "--workers", "1"],
        env={**os.environ, "HPO_STORAGE": storage},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: "RUNNING" in [t.state.name for t in load_study(storage).trials], 120, "no trial started")
    parent.send_signal(signal.SIGINT)
    time.sleep(1)
    parent.send_signal(signal.SIGINT)
    out, err = parent.communicate(timeout=120)
    assert parent.returncode == 130, err[-2000:]
    assert " WARNING hpo.workers.supervisor: worker 1: worker pid " in err
    assert "abandoned its running trial (exit 130; it will be re-run)" in err
    assert " ERROR " not in err
    assert out.startswith("0 trials ended in ")


@pytest.mark.parametrize("value", ["abc", "0", "-2"])
def test_a_bad_thread_share_is_one_line(value: str) -> None:
    from hpo.errors import UsageError
    from hpo.workers.supervisor import as_supervised_child

    with pytest.raises(UsageError) as info:
        as_supervised_child({"HPO_CPU_THREADS": value})
    assert str(info.value) == f"HPO_CPU_THREADS={value}: give a whole number of CPU threads, 1 or more (or unset it)"
