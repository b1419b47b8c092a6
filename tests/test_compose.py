"""docker-compose.yml, read against what the services need, and its services' commands run for real.

There is no Docker engine here: the structure is checked by reading, and each service's command is
run directly, with the compose environment, against a real Postgres.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import free_port, retrieval_config, serve, write_config

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error} substitution."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if op == ":-":
            return arg or ""
        raise KeyError(f"{name}: {arg}")

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", replace, value)


def test_postgres_has_a_volume_and_a_healthcheck() -> None:
    postgres = SERVICES["postgres"]
    assert postgres["volumes"][0].split(":")[0] in COMPOSE["volumes"]
    assert "pg_isready" in postgres["healthcheck"]["test"][1]
    for name in ("dashboard", "worker", "create-study"):
        assert SERVICES[name]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dashboard_port_is_bound_to_localhost() -> None:
    assert SERVICES["dashboard"]["ports"] == ["127.0.0.1:8080:8080"]


def test_worker_reserves_a_gpu_caches_models_and_scales() -> None:
    worker = SERVICES["worker"]
    device = worker["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert "hf-cache:/cache/huggingface" in worker["volumes"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=N needs both absent


def test_create_study_is_a_one_shot_setup_service() -> None:
    service = SERVICES["create-study"]
    assert service["profiles"] == ["setup"] and service["restart"] == "no"


def test_env_example_and_dockerfile() -> None:
    env_names = {line.split("=")[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    needed = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    assert needed <= env_names
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'pip install "torch==2.13.0"' in dockerfile
    assert 'ENTRYPOINT ["hpo"]' in dockerfile


@pytest.mark.postgres
def test_services_commands_run_against_postgres(tmp_path: Path, tiny_model: str, postgres_url: str) -> None:
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}))
    compose_env = {"POSTGRES_PASSWORD": "unused", "HPO_STUDY": "tiny-retrieval", "HPO_CONFIG": str(config)}
    env = {**os.environ, **compose_env, "HPO_STORAGE": postgres_url}

    def command(service: str) -> list[str]:
        return [interpolate(part, compose_env) for part in SERVICES[service]["command"]]

    for service in ("create-study", "worker"):
        result = subprocess.run(
            [sys.executable, "-m", "hpo", *command(service)], env=env, capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-2000:]
    assert "stopped: study budget done" in result.stdout

    port = free_port()
    dashboard = command("dashboard")
    dashboard[dashboard.index("--port") + 1] = str(port)  # the container's 8080 may be taken here
    server = serve([sys.executable, "-m", "hpo", *dashboard], env, f"http://127.0.0.1:{port}/api/studies")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies") as response:
            studies = json.load(response)["study_summaries"]
        assert [s["study_name"] for s in studies] == ["tiny-retrieval"]
    finally:
        server.terminate()
        server.wait(timeout=10)
