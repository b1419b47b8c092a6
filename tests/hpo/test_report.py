from __future__ import annotations

from pathlib import Path

from hpo.views.report import PLOTS, report_markdown
from tests.helpers import invoke, load_study


def test_report_writes_every_plot_and_the_top_trials(finished_study: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = invoke("report", "--study", "tiny-retrieval", "--storage", finished_study, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    for name in PLOTS:
        if name == "param_importances":  # 2 complete trials: too few to draw (see below)
            assert not (out / f"{name}.png").exists()
            continue
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert "plotly" in (out / f"{name}.html").read_text()
    assert (out / "plotly.min.js").exists()  # the HTML works offline
    assert result.stdout.splitlines()[-1] == str(out / "report.md")

    study = load_study(finished_study)
    complete = sorted(
        (t for t in study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value or 0.0, reverse=True
    )
    markdown = (out / "report.md").read_text()
    assert "# Study tiny-retrieval" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == [t.number for t in complete]
    assert "![intermediate values](intermediate_values.png)" in markdown
    # Short, unique parameter labels; the fronts against cost (device seconds: no prices) and latency.
    assert "Parameter labels: MNRL.scale = MultipleNegativesRankingLoss.scale, lr = learning_rate." in markdown
    assert "MNRL.scale" in (out / "parallel_coordinate.html").read_text()
    for name in ("pareto_cost", "pareto_latency"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"![{name.replace('_', ' ')}]({name}.png)" in markdown
    assert "front of ndcg@10 against device seconds per trial (" in markdown
    assert not (out / "pareto_dimension.png").exists()  # every trial has the same dimension


def test_report_skips_plots_a_new_study_cannot_draw(tmp_path: Path, tiny_model: str) -> None:
    from tests.helpers import retrieval_config, write_config

    url = f"sqlite:///{tmp_path}/s.db"
    invoke("create-study", "--config", str(write_config(tmp_path, retrieval_config(tiny_model))), "--storage", url)
    result = invoke("report", "--study", "tiny-retrieval", "--storage", url, "-o", str(tmp_path / "r"))
    assert result.exit_code == 0
    markdown = (tmp_path / "r" / "report.md").read_text()
    assert "- optimization_history: skipped (no trial has data for it yet)" in markdown


def test_importances_need_ten_complete_trials_and_say_what_they_stand_on(finished_study: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = invoke("report", "--study", "tiny-retrieval", "--storage", finished_study, "-o", str(out))
    markdown = (out / "report.md").read_text()
    reason = "needs at least 10 complete trials to mean anything, the study has 2"
    assert f"- param_importances: skipped ({reason})" in markdown.splitlines()
    assert result.exit_code == 0, result.stderr

    from hpo.store.study import load_stored_study
    from tests.helpers import storage

    # Drawn (with 10 or more trials), the plot carries the count it stands on.
    stored = load_stored_study(storage(finished_study), "tiny-retrieval")
    drawn = report_markdown(stored, [out / "param_importances.png"], {}, top=10)
    assert (
        "Parameter importances (fANOVA) from 2 complete search trials: which parameters moved the dev metric "
        "within this search's ranges, a rough guide with tens of trials, not a ranking."
    ) in drawn.splitlines()


def test_finished_study_has_complete_and_pruned_trials(finished_study: str) -> None:
    study = load_study(finished_study)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED", "PRUNED"]
