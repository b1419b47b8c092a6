"""A study is a normal Optuna study: other clients' trials must not stall or break hpo."""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
import pytest

from tests.helpers import invoke, load_study, retrieval_config, write_config


def test_other_clients_trials_neither_stall_workers_nor_break_exports(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    storage = f"sqlite:///{tmp_path}/study.db"
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 1}, pruner={"type": "none"}))
    assert invoke("create-study", "--config", str(config), "--storage", storage).exit_code == 0
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", storage).exit_code == 0
    study = load_study(storage)
    ours = study.best_trial
    # A notebook on the same study: a finished trial with a better value and no hpo record, and a
    # trial it left RUNNING (no heartbeat: Optuna's own optimize loop was not asked for one).
    study.add_trial(
        optuna.trial.create_trial(
            params={"learning_rate": 0.001},
            distributions={"learning_rate": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)},
            value=0.999,
        )
    )
    study.ask()

    worker = invoke("worker", "--study", "tiny-retrieval", "--storage", storage)
    assert worker.exit_code == 0  # returns at once: only its own workers' trials are waited for
    assert worker.stdout == "tiny-retrieval: this worker ran 0 trials (no trials); stopped: study budget done\n"
    with caplog.at_level(logging.WARNING, logger="hpo.results.export"):
        best = invoke("best", "--study", "tiny-retrieval", "--storage", storage, "-o", str(tmp_path / "best.yaml"))
    assert best.exit_code == 0, best.stderr
    assert best.stdout.startswith(f"best trial {ours.number}: ndcg@10 = {ours.value:.4f} on ")
    assert caplog.messages == ["ignoring 1 complete trials that no hpo worker ran (they have no 'training' record)"]
    assert invoke("status", "--study", "tiny-retrieval", "--storage", storage).exit_code == 0
    report = invoke("report", "--study", "tiny-retrieval", "--storage", storage, "-o", str(tmp_path / "report"))
    assert report.exit_code == 0, report.stderr
