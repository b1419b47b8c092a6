"""Soak test: a study survives killed workers and Postgres restarts with exactly its budget finished.

    python benchmarks/soak.py [--trials 30] [--workers 3] [--kills 10] [--restarts 2]

Starts its own throwaway Postgres server (initdb into a temporary folder, port 5433, as the
``postgres`` system user; the machine's own server is never touched), builds the tiny test model,
creates a study, runs workers, SIGKILLs a random running worker ``--kills`` times (starting a
replacement each time), restarts that Postgres ``--restarts`` times mid-study, waits for the
budget, and prints a summary: finished, RUNNING and WAITING trials, killed trials, lost and
duplicate trials.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

from hpo.training.testing import build_tiny_model, tiny_study_config

ROOT = Path(__file__).resolve().parents[1]
PORT = 5433


class OwnPostgres:
    """A Postgres cluster in a temporary folder, started and restarted by this script only."""

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        self.data = Path(tempfile.mkdtemp(prefix="hpo-soak-pg-"))
        shutil.chown(self.data, "postgres")
        self._as_postgres([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"])

    def _as_postgres(self, command: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, stdout=subprocess.DEVNULL)

    def start(self) -> None:
        options = f"-p {PORT} -k {self.data} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections}"
        pg_ctl = str(self.bin / "pg_ctl")
        self._as_postgres([pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start"])

    def restart(self) -> None:
        self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "restart"])

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(self.data, ignore_errors=True)


def study_config(model: str, trials: int) -> dict[str, object]:
    config = tiny_study_config(model, study_name="soak", pruner={"type": "median", "n_startup_trials": 3})
    config["search_space"]["epochs"] = 3
    config.pop("sampler")
    config["budget"] = {"n_trials": trials}
    config["fault_tolerance"] = {
        "heartbeat_interval": 1,
        "grace_period": 5,
        "max_retries": 10,
        "max_consecutive_failures": 50,
        "db_outage_seconds": 120,
    }
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=2)
    args = parser.parse_args()

    postgres = OwnPostgres()
    storage = f"postgresql+psycopg2://postgres@127.0.0.1:{PORT}/postgres"
    work = Path(tempfile.mkdtemp(prefix="hpo-soak-"))
    env = {**os.environ, "HPO_STORAGE": storage, "HF_HUB_OFFLINE": "1"}
    rng = random.Random(0)
    try:
        postgres.start()
        config = work / "soak.yaml"
        config.write_text(yaml.safe_dump(study_config(str(build_tiny_model(work)), args.trials)))
        subprocess.run([sys.executable, "-m", "hpo", "create-study", "--config", str(config)], env=env, check=True)
        log = (work / "workers.log").open("w")

        def start_worker() -> subprocess.Popen[bytes]:
            command = [sys.executable, "-m", "hpo", "worker", "--study", "soak"]
            return subprocess.Popen(command, env=env, stdout=log, stderr=log)

        def trials() -> list[optuna.trial.FrozenTrial]:
            return optuna.load_study(study_name="soak", storage=storage).trials

        workers = [start_worker() for _ in range(args.workers)]
        started = time.monotonic()
        kills = restarts = 0
        restart_after = {round((i + 1) * args.kills / (args.restarts + 1)) for i in range(args.restarts)}
        while kills < args.kills:
            time.sleep(rng.uniform(2.0, 5.0))
            if not any(t.state.name == "RUNNING" for t in trials()):
                if all(w.poll() is not None for w in workers):
                    break  # the budget finished before all kills were done
                continue
            victim = rng.choice([w for w in workers if w.poll() is None])
            victim.kill()
            victim.wait()
            kills += 1
            workers[workers.index(victim)] = start_worker()
            print(f"[{time.monotonic() - started:6.1f} s] killed worker pid {victim.pid} ({kills}/{args.kills})")
            if kills in restart_after and restarts < args.restarts:
                postgres.restart()
                restarts += 1
                print(f"[{time.monotonic() - started:6.1f} s] restarted Postgres ({restarts}/{args.restarts})")
        codes = [w.wait(timeout=1800) for w in workers]
        elapsed = time.monotonic() - started
        final = trials()
        states = [t.state.name for t in final]
        finished = [t for t in final if t.state.name in {"COMPLETE", "PRUNED"}]
        killed = [t for t in final if t.state.name == "FAIL"]
        retried = {t.system_attrs.get("failed_trial") for t in final} - {None}
        lost = [t.number for t in killed if t.number not in retried]
        chains = [t.system_attrs.get("retry_history", [t.number])[0] for t in finished]
        duplicates = len(chains) - len(set(chains))
        print("\n== soak ==")
        print(
            f"wall time {elapsed:.1f} s; worker kills {kills}; Postgres restarts {restarts}; worker exit codes {codes}"
        )
        print(f"trials: { ({s: states.count(s) for s in sorted(set(states))}) }")
        print(f"finished (complete + pruned): {len(finished)} of budget {args.trials}")
        print(f"RUNNING: {states.count('RUNNING')}; WAITING: {states.count('WAITING')}")
        print(f"killed trials (FAIL, re-queued): {len(killed)}; lost: {len(lost)}; duplicates: {duplicates}")
        reasons = {t.user_attrs.get("fail_reason", "-") for t in killed}
        print(f"fail reasons: {sorted(reasons)}")
        ok = len(finished) == args.trials and not lost and not duplicates and "RUNNING" not in states
        log.close()
        lines = (work / "workers.log").read_text().splitlines()
        errors = [line for line in lines if line.startswith("error:") or "Error" in line]
        for line in errors[-10:]:
            print("worker:", line)
        ok = ok and all(code == 0 for code in codes)
        print("RESULT:", "PASS" if ok else "FAIL")
    finally:
        postgres.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
