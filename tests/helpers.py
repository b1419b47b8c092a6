"""What many test modules share: study configs, data files, and ways to run the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import yaml
from click.testing import CliRunner, Result

from hpo.cli import cli
from hpo.settings.config import StudyConfig
from hpo.settings.space import TrainingParams
from hpo.store.config_file import parse_config
from hpo.store.storage import Storage, StorageUrl, open_storage
from hpo.training.testing import tiny_study_config

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def retrieval_config(model: str, **overrides: Any) -> dict[str, Any]:
    """A small, fast retrieval study on the built-in demo data."""
    return tiny_study_config(model, **overrides)


def pairs_config(model: str, train: str, **data: Any) -> dict[str, Any]:
    """A pair-classification study on the pairs in ``train``."""
    raw = retrieval_config(model, objective="pair-classification", study_name="pairs")
    raw["search_space"]["loss"] = "OnlineContrastiveLoss"
    raw["data"] = {"train": {"path": train}, **data}
    return raw


def parsed(raw: dict[str, Any]) -> StudyConfig:
    return parse_config(raw, source="x")


def write_config(directory: Path, config: dict[str, Any], name: str = "study.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def training_params(**overrides: Any) -> TrainingParams:
    """One trial's training parameters: MNRL at 1e-4, batch 8, one epoch, with ``overrides``."""
    values: dict[str, Any] = {
        "model": "m",
        "loss": "MultipleNegativesRankingLoss",
        "learning_rate": 1e-4,
        "batch_size": 8,
        "epochs": 1,
        "warmup_ratio": 0.1,
        "weight_decay": 0.0,
        "max_seq_length": None,
        "scheduler": "linear",
    }
    return TrainingParams(**{**values, **overrides})


def jsonl(path: Path, rows: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def pair_rows(n: int) -> list[dict[str, Any]]:
    return [{"text1": f"question {i}", "text2": f"other question {i}", "label": i % 2} for i in range(n)]


def storage(url: str) -> Storage:
    return open_storage(StorageUrl.parse(url))


def load_study(url: str, name: str = "tiny-retrieval") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=storage(url).backend)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in this process (fast; no signals)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, prog_name="hpo")


def hpo(*args: str, storage: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, with ``storage`` as HPO_STORAGE."""
    env = {**os.environ, "HPO_STORAGE": storage}
    return subprocess.run(
        [sys.executable, "-m", "hpo", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def seed_one_good_trial(url: str) -> None:
    """Fix the first queued trial to a learning rate that trains, outside the searched range.

    Every sampled trial (lr 1e-9..1e-8) then barely moves from the untrained model and scores
    below it at each evaluation, so the aggressive pruner deterministically prunes some.
    """
    backend = storage(url).backend
    study = optuna.load_study(study_name="tiny-retrieval", storage=backend)
    first = study.get_trials(states=(optuna.trial.TrialState.WAITING,))[0]
    trial_id = backend.get_trial_id_from_study_id_trial_number(
        backend.get_study_id_from_name("tiny-retrieval"), first.number
    )
    backend.set_trial_system_attr(trial_id, "fixed_params", {"learning_rate": 1e-3})


def run_workers(storage: str, count: int, study: str = "tiny-retrieval") -> list[tuple[int, str, str]]:
    """``count`` worker processes on ``study`` at once, until they stop: (exit code, stdout, stderr) of each."""
    env = {**os.environ, "HPO_STORAGE": storage}
    command = [sys.executable, "-m", "hpo", "worker", "--study", study]
    workers = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    return [(w.returncode, out, err) for w, (out, err) in zip(workers, outputs, strict=True)]


def doomed_model(tiny_model: str, directory: Path) -> str:
    """A copy of the tiny model that passes create-study's checks; delete it to make every trial fail."""
    import shutil

    copy = directory / "doomed-model"
    shutil.copytree(tiny_model, copy)
    return str(copy)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on TCP ``port``, as the Linux kernel lists them."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        lines = Path(table).read_text().splitlines()[1:] if Path(table).exists() else []
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                packed = bytes.fromhex(address)
                # /proc prints each 32-bit word in host (little-endian) order
                words = b"".join(packed[i : i + 4][::-1] for i in range(0, width, 4))
                shown = socket.inet_ntop(socket.AF_INET if width == 4 else socket.AF_INET6, words)
                found.add(shown.removeprefix("::ffff:"))  # an IPv4 address on an IPv6 socket
    return found


def serve(command: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    """Start ``command`` and wait until ``url`` answers."""
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(
                    server.stderr.read().decode() if server.stderr else "server did not start"
                ) from None
            time.sleep(0.3)


def load_data(config: StudyConfig, include_test: bool = False) -> Any:
    """The config's data, loaded by its task."""
    from objectives.registry import get_task

    return get_task(config.objective).load_data(config, include_test)


def retrieval_rows(n: int) -> list[dict[str, Any]]:
    return [
        {"query_id": f"q{i}", "query": f"what is thing number {i}?", "positive": f"thing {i} is a kind of item {i}"}
        for i in range(n)
    ]


def create_file_study(tmp_path: Path, storage: str, model: str) -> Path:
    """A study whose training data is a local JSONL file; returns the file."""
    train = tmp_path / "data" / "train.jsonl"
    train.parent.mkdir()
    train.write_text("".join(json.dumps(row) + "\n" for row in retrieval_rows(200)))
    raw = retrieval_config(model, study_name="files")
    raw["data"] = {**raw["data"], "train": {"path": "data/train.jsonl"}}
    created = invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", storage)
    assert created.exit_code == 0, created.stderr
    return train
