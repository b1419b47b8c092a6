"""Storage at scale: N workers x M trials through the real worker path: direct Postgres, the gRPC
proxy, or the compose stack's PgBouncer.

    python benchmarks/storage_scale.py [--workers 8 32 64] [--trials 200] [--prefill 20000]
        [--modes direct proxy pgbouncer] [--max-connections 100]

The ``pgbouncer`` mode runs the stack's image (``docker compose build pgbouncer`` first) on the
host network in front of this script's Postgres.

Each worker is a real ``hpo`` worker process (queue claim, heartbeat, suggest, intermediate
reports, pruner, tell, user attrs, study note) whose training is replaced by a trivial run of
about 50 ms, so the figures are those of the storage path. It starts its own throwaway Postgres
(port 5433, ``max_connections`` 100 unless told; the machine's own server is never touched).

Prints, per mode and worker count: finished trials per second, p50/p95 storage time per trial
(the trial's wall time minus the trivial run), peak Postgres connections, lost and duplicate
trials; then the same on a study that already holds ``--prefill`` trials.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
import yaml

from benchmarks.soak import PORT, OwnPostgres
from hpo.training.testing import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]

TRIVIAL_SECONDS = 0.05


def create_study(path: Path, raw: dict[str, Any], env: dict[str, str]) -> None:
    """Write ``raw`` to ``path`` and run ``hpo create-study`` on it, quietly."""
    path.write_text(yaml.safe_dump(raw))
    subprocess.run(
        [sys.executable, "-m", "hpo", "create-study", "--config", str(path)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def trivial_train(objective: Any, params: Any, data: Any, config: Any, reporter: Any, seed: int | None = None) -> Any:
    """Stands in for fine-tuning: three intermediate reports and a result, in about 50 ms."""
    from hpo.training.result import Pruned, RunResult

    started = time.perf_counter()
    value = 0.0
    for samples in (32, 64, 96):
        time.sleep(TRIVIAL_SECONDS / 3)
        value = min(1.0, params.learning_rate * 100 + samples / 1000)
        reporter.report(value, samples)
        if reporter.should_prune():
            raise Pruned(samples, value, "trivial")
    spent = time.perf_counter() - started
    result = RunResult(
        value,
        "dev_cosine_ndcg@10",
        {"dev_cosine_ndcg@10": value},
        96,
        spent,
        0.0,
        96 / spent,
        0.0,
        "none",
        "cpu",
        "trivial",
        "trivial",
    )
    return result


def worker_main(study: str) -> None:
    from hpo.progress import LogProgress
    from hpo.store.storage import StorageUrl
    from hpo.workers.signals import StopSignals
    from hpo.workers.worker import run_worker

    with StopSignals() as stop:
        run_worker(StorageUrl.resolve(None, os.environ), study, stop=stop, progress=LogProgress, train=trivial_train)


def config(name: str, trials: int, model: str) -> dict[str, Any]:
    """A study of ``trials`` trivial runs; ``model`` only has to pass create-study's checks."""
    return {
        "study_name": name,
        "objective": "retrieval",
        "data": {"train": {"builtin": "stdlib-docstrings"}, "columns": {"query_id": "query_id"}},
        "search_space": {
            "model": model,
            "loss": "MultipleNegativesRankingLoss",
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": True},
            "batch_size": 16,
            "epochs": 1,
        },
        "evaluation": {"every_samples": 32},
        "pruner": {"type": "median", "n_startup_trials": 5},
        "budget": {"n_trials": trials},
        "fault_tolerance": {"heartbeat_interval": 5, "grace_period": 30, "max_consecutive_failures": 100},
    }


class ConnectionSampler(threading.Thread):
    """Polls pg_stat_activity for the peak number of client connections."""

    def __init__(self, admin_url: str) -> None:
        super().__init__(daemon=True)
        self.engine = sqlalchemy.create_engine(admin_url, pool_size=1)
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        # hpo's own connections (workers, proxy); not this script's
        query = sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hpo'")
        while not self.done.is_set():
            with self.engine.connect() as conn:
                self.peak = max(self.peak, int(conn.execute(query).scalar() or 0))
            self.done.wait(0.5)


def run_case(
    mode: str, workers: int, trials: int, db_url: str, work: Path, prefilled: str | None, model: str
) -> dict[str, Any]:
    name = prefilled or f"{mode}-{workers}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proxy = None
    storage = db_url
    bouncer = None
    if mode == "pgbouncer":
        bouncer, storage = start_pgbouncer(work)
    elif mode == "proxy":
        proxy = subprocess.Popen(
            [sys.executable, "-m", "hpo", "storage-proxy", "--storage", db_url, "--port", "13555"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        storage = "grpc://127.0.0.1:13555"
        time.sleep(4)
    env["HPO_STORAGE"] = storage
    if prefilled is None:
        create_study(work / f"{name}.yaml", config(name, trials, model), env)
    else:
        study = optuna.load_study(study_name=name, storage=db_url)
        for _ in range(trials):
            study.enqueue_trial({})
    existing = optuna.load_study(study_name=name, storage=db_url).trials
    before = {t.number for t in existing if t.state.is_finished()}
    expected = sum(t.state.name == "WAITING" for t in existing)
    sampler = ConnectionSampler(db_url)
    sampler.start()
    started = time.perf_counter()
    command = [sys.executable, "-m", "benchmarks.storage_scale", "--worker", name]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    errors = [p.communicate()[1] for p in processes]
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    if proxy is not None:
        proxy.terminate()
        proxy.wait()
    if bouncer is not None:
        subprocess.run(["docker", "rm", "-f", bouncer], check=True, stdout=subprocess.DEVNULL)
    new = [t for t in optuna.load_study(study_name=name, storage=db_url).trials if t.number not in before]
    finished = [t for t in new if t.state.name in {"COMPLETE", "PRUNED"}]
    storage_seconds = [
        t.user_attrs["wall_seconds"] - t.user_attrs.get("train_seconds", TRIVIAL_SECONDS)
        for t in finished
        if "wall_seconds" in t.user_attrs
    ]
    starts = [t.datetime_start for t in finished if t.datetime_start]
    ends = [t.datetime_complete for t in finished if t.datetime_complete]
    span = (max(ends) - min(starts)).total_seconds() if starts and ends else float("nan")
    quantiles = statistics.quantiles(storage_seconds, n=20) if len(storage_seconds) > 1 else [float("nan")] * 19
    return {
        "mode": mode,
        "workers": workers,
        "trials": len(finished),
        "trials/s": len(finished) / span if span else float("nan"),
        "p50 ms": 1000 * statistics.median(storage_seconds) if storage_seconds else float("nan"),
        "p95 ms": 1000 * quantiles[18],
        "peak conns": sampler.peak,
        "lost": expected - len(finished),
        "failed": sum(t.state.name == "FAIL" for t in new),
        "duplicates": len(new) - len({t.number for t in new}),
        "worker errors": sum(1 for p, e in zip(processes, errors, strict=True) if p.returncode != 0),
        "first error": next((_last_line(e) for p, e in zip(processes, errors, strict=True) if p.returncode), ""),
        "wall s": wall,
    }


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


PGBOUNCER_PORT = 6432


def start_pgbouncer(work: Path) -> tuple[str, str]:
    """The stack's PgBouncer in front of this script's Postgres: its container id and the URL through it."""
    password = work / "pgbouncer-password"
    password.write_text("bench-password")
    password.chmod(0o644)
    settings = {"DB_HOST": "127.0.0.1", "DB_PORT": str(PORT), "DB_NAME": "postgres", "DB_USER": "postgres"}
    command = ["docker", "run", "-d", "--rm", "--network", "host", "-v", f"{password}:/run/pw:ro"]
    for key, value in {**settings, "DB_PASSWORD_FILE": "/run/pw"}.items():
        command += ["-e", f"{key}={value}"]
    started = subprocess.run([*command, "hpo-pgbouncer:latest"], check=True, capture_output=True, text=True)
    time.sleep(2)
    return started.stdout.strip(), f"postgresql+psycopg2://postgres:bench-password@127.0.0.1:{PGBOUNCER_PORT}/postgres"


def prefill(db_url: str, work: Path, count: int, model: str) -> str:
    """A study holding ``count`` finished trials with intermediate values, written in bulk."""
    name = "prefilled"
    create_study(
        work / "prefilled.yaml",
        config(name, 1, model),
        {**os.environ, "HPO_STORAGE": db_url, "HF_HUB_OFFLINE": "1"},
    )
    study = optuna.load_study(study_name=name, storage=db_url)
    distribution = optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)
    trials = [
        optuna.trial.create_trial(
            params={"learning_rate": 1e-4},
            distributions={"learning_rate": distribution},
            value=0.5 + (i % 100) / 1000,
            intermediate_values={32: 0.4, 64: 0.45, 96: 0.5},
        )
        for i in range(count)
    ]
    study.add_trials(trials)
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--prefill", type=int, default=20000)
    parser.add_argument("--modes", nargs="+", choices=["direct", "proxy", "pgbouncer"], default=["direct", "proxy"])
    parser.add_argument("--max-connections", type=int, default=100, help="Postgres's max_connections.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker)
        return
    postgres = OwnPostgres(max_connections=args.max_connections)
    db_url = f"postgresql+psycopg2://postgres@127.0.0.1:{PORT}/postgres"
    work = Path(tempfile.mkdtemp(prefix="hpo-scale-"))
    model = str(build_tiny_model(work))
    rows = []
    try:
        postgres.start()
        for mode in args.modes:
            for workers in args.workers:
                rows.append(run_case(mode, workers, args.trials, db_url, work, None, model))
                print(rows[-1], flush=True)
        if args.prefill:
            started = time.perf_counter()
            name = prefill(db_url, work, args.prefill, model)
            print(f"prefilled {args.prefill} trials in {time.perf_counter() - started:.0f} s", flush=True)
            for mode in args.modes:
                for workers in args.workers[:2]:
                    row = run_case(mode, workers, args.trials, db_url, work, name, model)
                    row["mode"] += f" +{args.prefill}"
                    rows.append(row)
                    print(rows[-1], flush=True)
    finally:
        postgres.stop()
    keys = list(rows[0])
    print("\n| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for row in rows:
        print("| " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")


if __name__ == "__main__":
    main()
