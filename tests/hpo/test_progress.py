from __future__ import annotations

import io

from rich.console import Console

from hpo.progress import RichProgress
from tests.helpers import hpo, retrieval_config, write_config


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
    assert quiet.stdout.startswith("tiny-retrieval: this worker ran 1 trials")
