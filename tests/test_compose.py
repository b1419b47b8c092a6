"""The compose stack on a real Docker engine, as a user runs it: build, Postgres behind PgBouncer,
the dashboard in Chromium, a study from the bind-mounted work folder, two CPU workers, a worker
stopped mid-trial, ``down`` and ``up`` again, results back on the host, and the password nowhere.

The tests run in file order on one stack. With no image registry in reach, the base images are
local stand-ins built from Debian's packages (``tests/compose/local_images.sh``); the pip in the
build trusts this machine's certificate authorities and takes the torch wheel pip finds here.
Without a Docker engine the module is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.helpers import free_port, retrieval_config, retrieval_rows

ROOT = Path(__file__).resolve().parents[1]
LOCAL_IMAGES = {
    "HPO_BASE_IMAGE": "hpo-local/python:3.11",
    "HPO_DEBIAN_IMAGE": "hpo-local/debian:bookworm",
    "POSTGRES_IMAGE": "hpo-local/postgres:15",
}
TIMES = ROOT / "test-artifacts" / "compose-times.json"
STUDY = "compose-demo"
N_TRIALS = 4
pytestmark = pytest.mark.compose


@dataclass
class Stack:
    """One compose project: its name, env file, work folder, and everything it printed."""

    project: str
    env_file: Path
    work: Path
    password: str
    dashboard_port: int
    printed: list[str]

    def compose(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "-p", self.project]
        result = subprocess.run(
            [*command, "--env-file", str(self.env_file), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.printed += [result.stdout, result.stderr]
        if check:
            assert result.returncode == 0, f"docker compose {' '.join(args)}: {result.stderr[-3000:]}"
        return result

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Time a step; the times land in test-artifacts/compose-times.json (CI keeps no prints)."""
        started = time.monotonic()
        yield
        TIMES.parent.mkdir(exist_ok=True)
        times = json.loads(TIMES.read_text()) if TIMES.is_file() else {}
        TIMES.write_text(json.dumps({**times, step: round(time.monotonic() - started, 1)}, indent=1))

    def hpo(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.compose("run", "--rm", "-T", "hpo", *args)

    def trial_states(self) -> dict[str, int]:
        query = (
            "select t.state, count(*) from trials t join studies s using (study_id) "
            f"where s.study_name = '{STUDY}' group by t.state"
        )
        out = self.compose("exec", "-T", "postgres", "psql", "-U", "hpo", "-d", "hpo", "-tAF,", "-c", query)
        return {state: int(n) for state, n in (line.split(",") for line in out.stdout.split())}


def _docker_ready() -> str | None:
    """Why the stack cannot run here, or None."""
    for command in (["docker", "info"], ["docker", "compose", "version"]):
        try:
            if subprocess.run(command, capture_output=True, timeout=60).returncode != 0:
                return f"'{' '.join(command)}' failed"
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"'{' '.join(command)}': {exc}"
    return None


def _build_extras() -> dict[str, str]:
    """This machine's certificate authorities and the torch wheel its pip finds, in the build context."""
    extras = ROOT / ".docker-extras"
    wheels = extras / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    ca_file = ssl.get_default_verify_paths().openssl_cafile
    shutil.copyfile(ca_file, extras / "ca.crt")
    if not list(wheels.glob("torch-*.whl")):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(wheels), "torch==2.13.0"],
            check=True,
            timeout=900,
        )
    return {"HPO_EXTRA_CA_CERT": ".docker-extras/ca.crt", "HPO_TORCH_WHEELS": ".docker-extras/wheels"}


def _work_folder(work: Path, tiny_model: str) -> None:
    """A user's work folder: the model, the data files and the config that names them (relative paths)."""
    shutil.copytree(tiny_model, work / "models" / "tiny")
    (work / "data").mkdir()
    (work / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in retrieval_rows(120)))
    config = retrieval_config("models/tiny", study_name=STUDY, budget={"n_trials": N_TRIALS})
    config["data"] = {**config["data"], "train": {"path": "data/train.jsonl"}}
    (work / "study.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> Iterator[Stack]:
    why_not = _docker_ready()
    if why_not is not None:
        if os.environ.get("CI"):
            pytest.fail(f"a Docker engine with Compose v2 is required in CI: {why_not}")
        pytest.skip(f"no Docker engine with Compose v2 here: {why_not}")
    subprocess.run(["bash", str(ROOT / "tests" / "compose" / "local_images.sh")], check=True, timeout=1800)
    work = tmp_path_factory.mktemp("work")
    _work_folder(work, tiny_model)
    password = f"pw-{uuid.uuid4().hex}"
    settings = {
        "POSTGRES_PASSWORD": password,
        "HPO_STUDY": STUDY,
        "HF_TOKEN": "",
        "HF_HUB_OFFLINE": "1",
        "HPO_FILES": str(work),
        "HPO_DASHBOARD_PORT": str(free_port()),
        **LOCAL_IMAGES,
        **_build_extras(),
    }
    env_file = work.parent / f"{work.name}.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
    stack = Stack(f"hpotest{os.getpid()}", env_file, work, password, int(settings["HPO_DASHBOARD_PORT"]), [])
    TIMES.unlink(missing_ok=True)
    try:
        with stack.timed("build"):
            stack.compose("build", "dashboard", "pgbouncer", timeout=3600)  # the other hpo services share its image
        with stack.timed("stack up"):
            stack.compose("up", "-d", "--wait", "postgres", "pgbouncer", "dashboard", timeout=300)
        yield stack
    finally:
        stack.compose("down", "-v", "--remove-orphans", timeout=300, check=False)


def test_config_shows_no_password(stack: Stack) -> None:
    printed = stack.compose("config").stdout
    assert "HPO_STORAGE: postgresql+psycopg2://hpo@pgbouncer:6432/hpo" in printed
    assert stack.password not in printed


def test_create_study_from_the_work_folder(stack: Stack) -> None:
    result = stack.hpo("create-study", "--config", "/files/study.yaml")
    assert result.stdout.strip() == STUDY
    assert stack.trial_states() == {"WAITING": N_TRIALS}


def test_the_dashboard_shows_the_study_in_chromium(stack: Stack) -> None:
    from tests.hpo.test_dashboard import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI and missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"http://127.0.0.1:{stack.dashboard_port}/dashboard")
        expect(page.get_by_text(STUDY).first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "compose-dashboard.png"))
        browser.close()


def _wait_for(condition: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        time.sleep(1.0)


def test_a_worker_stopped_mid_trial_loses_nothing(stack: Stack) -> None:
    stack.compose("up", "-d", "--scale", "worker=2", "worker")
    _wait_for("a running trial", lambda: stack.trial_states().get("RUNNING", 0) > 0, timeout=300)
    stack.compose("stop", "worker", timeout=900)  # SIGTERM: the running trials finish
    states = stack.trial_states()
    assert "RUNNING" not in states and "FAIL" not in states
    assert sum(states.values()) == N_TRIALS


def test_two_cpu_workers_run_the_budget_to_its_end(stack: Stack) -> None:
    stack.compose("up", "-d", "--scale", "worker=2", "worker")
    done = ("COMPLETE", "PRUNED")
    with stack.timed("rest of the budget, 2 CPU workers"):
        _wait_for("the budget", lambda: sum(stack.trial_states().get(s, 0) for s in done) == N_TRIALS, timeout=900)
    states = stack.trial_states()
    assert sum(states.values()) == N_TRIALS and states.get("COMPLETE", 0) >= 1
    _wait_for("the workers to exit", lambda: not stack.compose("ps", "-q", "worker").stdout.strip(), timeout=120)
    exits = stack.compose("ps", "-a", "--format", "{{.ExitCode}}", "worker").stdout.split()
    assert exits == ["0", "0"]


def test_down_and_up_keep_the_study(stack: Stack) -> None:
    stack.compose("down")
    stack.compose("up", "-d", "--wait", "postgres", "pgbouncer")
    assert stack.hpo("studies").stdout.count(STUDY) == 1
    assert sum(stack.trial_states().values()) == N_TRIALS


def test_best_and_report_land_on_the_host(stack: Stack) -> None:
    stack.hpo("best", "--study", STUDY, "-o", "/files/best.yaml")
    stack.hpo("report", "--study", STUDY, "-o", "/files/report")
    best = yaml.safe_load((stack.work / "best.yaml").read_text())
    assert best["study"] == STUDY
    assert any(STUDY in page.read_text() for page in (stack.work / "report").glob("*.md"))


def test_no_output_or_log_shows_the_password(stack: Stack) -> None:
    stack.compose("logs", "--no-color")
    leaks = [text[max(0, text.find(stack.password) - 200) :][:400] for text in stack.printed if stack.password in text]
    assert not leaks
