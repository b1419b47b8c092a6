from __future__ import annotations

import io
import itertools
import logging
import re
from pathlib import Path

import pytest
from rich.console import Console

from hpo.progress import LogProgress, RichProgress
from tests.helpers import hpo, invoke, retrieval_config, write_config


def test_live_bars_show_trial_samples_metric_and_end_state() -> None:
    stream = io.StringIO()
    progress = RichProgress("ndcg@10", console=Console(file=stream, force_terminal=True, width=160))
    progress.trial_started(3, {"learning_rate": 2e-5, "batch_size": 32})
    progress.step(3, 64, 256)
    progress.evaluated(3, 64, 0.4321)
    progress.trial_finished(3, "PRUNED", "at 64 samples")
    progress.close()
    text = stream.getvalue()
    assert "trial 3" in text and "learning_rate=2e-05, batch_size=32" in text
    assert "64/256" in text
    assert "ndcg@10 0.4321" in text
    assert "pruned" in text


def test_the_bar_eta_rides_out_an_evaluation_pause() -> None:
    """A bar's time left comes from the trial's whole rate, not the last 30 s: a minute spent
    evaluating (no samples) does not make it jump."""
    now = [0.0]
    progress = RichProgress("ndcg@10", console=Console(file=io.StringIO()), get_time=lambda: now[0])
    progress.trial_started(0, {})
    for second in range(1, 121):  # 120 s of training at 2 samples a second
        now[0] = float(second)
        progress.step(0, 2 * second, 480)
    before = progress.progress.tasks[0].time_remaining
    now[0] += 60.0  # an evaluation: a minute without a sample
    progress.step(0, 242, 480)
    after = progress.progress.tasks[0].time_remaining
    progress.close()
    assert before is not None and after is not None
    assert before == pytest.approx(120, rel=0.05)
    assert after < 2 * before  # about 180 s: the pause slows the whole rate; rich's default window shows no ETA at all


def test_worker_logs_plain_lines_off_a_terminal_and_quiet_hides_them(tmp_path: object, tiny_model: str) -> None:
    storage = f"sqlite:///{tmp_path}/s.db"
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 2}))  # type: ignore[arg-type]
    hpo("create-study", "--config", str(config), storage=storage)
    plain = hpo("worker", "--study", "tiny-retrieval", "--n-trials", "1", storage=storage)
    assert "INFO hpo.progress: trial 0 started: MultipleNegativesRankingLoss.scale=" in plain.stderr
    assert "INFO hpo.progress: trial 0: 32 samples, ndcg@10 " in plain.stderr
    assert "INFO hpo.progress: trial 0 complete: ndcg@10 " in plain.stderr
    quiet = hpo("--quiet", "worker", "--study", "tiny-retrieval", storage=storage)
    assert quiet.returncode == 0
    assert "INFO" not in quiet.stderr
    assert quiet.stdout.startswith("tiny-retrieval: this worker ran 1 trial (")


def test_log_mode_says_a_trials_training_progress_every_interval_with_the_time_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = itertools.count(0, 20)  # 20 s between events on this clock
    progress = LogProgress("ndcg@10", every=30, clock=lambda: float(next(ticks)))
    with caplog.at_level(logging.INFO, logger="hpo.progress"):
        progress.trial_started(2, {"batch_size": 16})  # t=0
        for samples in (64, 128, 192, 256, 320):  # t=20 (too soon), 40, 60 (too soon), 80, 100 (the end)
            progress.step(2, samples, 320)
        progress.trial_finished(2, "COMPLETE", "ndcg@10 0.5")
    assert caplog.messages == [
        "trial 2 started: batch_size=16",
        "trial 2: training, 128 of 320 samples, about 60 s left",
        "trial 2: training, 256 of 320 samples, about 20 s left",
        "trial 2 complete: ndcg@10 0.5",
    ]


def test_train_writes_no_progress_bar_into_a_redirected_log(tmp_path: Path, finished_study: str) -> None:
    best = tmp_path / "best.yaml"
    exported = hpo("best", "--study", "tiny-retrieval", "-o", str(best), storage=finished_study)
    assert exported.returncode == 0, exported.stderr
    trained = hpo("train", str(best), "-o", str(tmp_path / "model"), storage=finished_study)  # stderr: a pipe
    assert trained.returncode == 0, trained.stderr
    assert "Computing widget examples" not in trained.stderr  # sentence-transformers' model-card bar
    assert "\r" not in trained.stderr  # nor any other bar
    assert "INFO hpo.results.final: training (" in trained.stderr or "scoring" in trained.stderr


def test_baseline_in_log_mode_logs_its_encoding_with_counts_and_time_left(
    tmp_path: Path, tiny_model: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hpo.training import encode_meter

    url = f"sqlite:///{tmp_path}/study.db"
    config = write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 1}))
    assert invoke("create-study", "--config", str(config), "--storage", url).exit_code == 0
    monkeypatch.setattr(encode_meter, "EVERY_SECONDS", 0.0)  # a line per batch: the tiny corpus encodes in a blink
    with caplog.at_level(logging.INFO, logger="hpo.training.encode_meter"):
        result = invoke("baseline", "--study", "tiny-retrieval", "--storage", url, "--progress", "log")
    assert result.exit_code == 0, result.stderr
    lines = [m for m in caplog.messages if m.startswith("encoding: ")]
    assert lines and all(
        re.fullmatch(r"encoding: \d+ of \d+ (passages|queries) \(\d+\.\d per second\), about \d+ s left", m)
        for m in lines
    ), lines
    assert any(" passages " in m for m in lines)
