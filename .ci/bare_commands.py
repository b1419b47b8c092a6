"""Every `hpo` command once, as installed with no extras: the documented install must be enough.

Run with the interpreter of a virtual environment made by `pip install "torch==2.13.0" .`.
The storage proxy serves a fresh Postgres database; a `grpc://` worker runs one trial through it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import sqlalchemy
import yaml

from hpo.training.testing import build_tiny_model, tiny_study_config, wait_for_port

ADMIN = os.environ.get("HPO_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
HPO = [sys.executable, "-m", "hpo"]


def run(*args: str, storage: str | None = None, expect: int = 0) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **({"HPO_STORAGE": storage} if storage else {})}
    result = subprocess.run([*HPO, *args], env=env, capture_output=True, text=True, timeout=600)
    if result.returncode != expect:
        sys.exit(f"hpo {' '.join(args)}: exit {result.returncode}, expected {expect}\n{result.stderr[-3000:]}")
    print(f"ok  hpo {' '.join(args)}  (exit {result.returncode})")
    return result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="hpo-bare-"))
    model = build_tiny_model(work)
    config = tiny_study_config(str(model), study_name="bare", budget={"n_trials": 1})
    config_path = work / "study.yaml"
    config_path.write_text(yaml.safe_dump(config))
    database = f"hpo_bare_{os.getpid()}"
    admin = sqlalchemy.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    db_url = ADMIN.rsplit("/", 1)[0] + "/" + database
    port = free_port()
    proxy = subprocess.Popen([*HPO, "storage-proxy", "--storage", db_url, "--port", str(port)])
    try:
        wait_for_port(port, proxy)
        grpc = f"grpc://127.0.0.1:{port}"
        run("--help")
        run("--version")
        run("create-study", "--config", str(config_path), storage=grpc)
        run("worker", "--study", "bare", "--n-trials", "1", storage=grpc)
        status = run("status", "--study", "bare", "--json", storage=grpc)
        if '"COMPLETE": 1' not in status:
            sys.exit(f"the grpc:// worker did not complete its trial:\n{status}")
        run("studies", storage=grpc)
        run("best", "--study", "bare", "-o", str(work / "best.yaml"), storage=db_url)
        run("confirm", "--study", "bare", "--top-k", "1", "--seeds", "1", storage=db_url)
        run("worker", "--study", "bare", storage=db_url)  # runs the confirmation
        run("confirm", "--study", "bare", "--report", storage=db_url)
        run("baseline", "--study", "bare", storage=db_url)
        run("report", "--study", "bare", "-o", str(work / "report"), storage=db_url)
        run("train", str(work / "best.yaml"), "-o", str(work / "final"))
        run("evaluate", str(work / "final"), "--config", str(config_path))
        dash_port = free_port()
        dashboard = subprocess.Popen([*HPO, "dashboard", "--storage", db_url, "--port", str(dash_port)])
        try:
            wait_for_port(dash_port, dashboard)
            with urllib.request.urlopen(f"http://127.0.0.1:{dash_port}/api/studies", timeout=10) as response:
                assert response.status == 200
            print("ok  hpo dashboard  (serves /api/studies)")
        finally:
            dashboard.terminate()
            dashboard.wait(timeout=10)
        run("modal", "--study", "bare", "--storage", "postgresql://u@db.example.com/hpo", expect=2)
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
