"""hpo confirm: the top configs retrained with new seeds by ordinary workers, outside the search budget."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import hpo, invoke, load_study, retrieval_config, write_config


def test_confirmation_runs_are_queued_run_by_a_worker_and_reported(tmp_path: Path, tiny_model: str) -> None:
    url = f"sqlite:///{tmp_path}/study.db"
    # Two startup trials complete; after them the pruner keeps only the best 1 % at every step.
    raw = retrieval_config(tiny_model, budget={"n_trials": 3})
    raw["pruner"] = {"type": "percentile", "percentile": 99.0, "n_startup_trials": 2}
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    assert invoke("worker", "--study", "tiny-retrieval", "--storage", url).exit_code == 0
    search = load_study(url).trials
    complete = sorted((t for t in search if t.state.name == "COMPLETE"), key=lambda t: t.value or 0.0, reverse=True)
    assert len(complete) >= 2

    queued = invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--top-k", "2", "--seeds", "2")
    assert queued.exit_code == 0, queued.stderr
    top = [complete[0].number, complete[1].number]
    assert queued.stdout.startswith(f"4 confirmation runs queued (0 already there) for trials {top[0]}, {top[1]}")
    again = invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--top-k", "2", "--seeds", "2")
    assert again.stdout.startswith("0 confirmation runs queued (4 already there)")
    status = invoke("status", "--study", "tiny-retrieval", "--storage", url).stdout
    assert "(budget 3)" in status and "confirm:   4 waiting (hpo confirm runs, outside the budget" in status

    ran = invoke("worker", "--study", "tiny-retrieval", "--storage", url)
    assert ran.exit_code == 0 and "this worker ran 4 trials (4 complete)" in ran.stdout
    runs = load_study(url).trials[len(search) :]
    assert sorted((t.user_attrs["confirms_trial"], t.user_attrs["seed"]) for t in runs) == sorted(
        (n, s) for n in top for s in (43, 44)
    )
    assert all(t.state.name == "COMPLETE" and t.params == search[t.user_attrs["confirms_trial"]].params for t in runs)

    report = invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--report")
    assert report.exit_code == 0, report.stderr
    lines = report.stdout.splitlines()
    assert lines[0].startswith("confirmation of study tiny-retrieval: ndcg@10 on dev (full (")
    data = json.loads(invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--report", "--json").stdout)
    by_trial = {c["trial"]: c for c in data["configs"]}
    for number in top:
        values = [float(t.value or 0.0) for t in runs if t.user_attrs["confirms_trial"] == number]
        assert sorted(by_trial[number]["runs"].values()) == sorted(values)
        assert by_trial[number]["mean"] == sum(values) / 2
    winner = data["winner"]
    assert winner == max(top, key=lambda n: by_trial[n]["mean"])
    assert data["search_best_stayed_best"] == (winner == top[0])
    assert f"winner: trial {winner} (best mean over 2 seeds)" in report.stdout
    assert data["verdicts"][0]["method"] == "paired bootstrap over items and seeds (2 vs 2 runs)"
    assert any(line.startswith(f"verdict: trial {winner} config vs trial ") for line in lines)

    path = tmp_path / "confirmed.yaml"
    exported = invoke("best", "--study", "tiny-retrieval", "--storage", url, "--confirmed", "-o", str(path))
    assert exported.exit_code == 0, exported.stderr
    document = yaml.safe_load(path.read_text())
    assert document["trial"]["number"] == winner
    assert document["selected_by"] == "hpo confirm: the best mean ndcg@10 over 2 seeds"
    assert document["confirmation"]["winner"] == winner
    plain = yaml.safe_load(invoke("best", "--study", "tiny-retrieval", "--storage", url).stdout)
    assert plain["trial"]["number"] == top[0]  # the search's best: confirmation runs are not candidates
    assert plain["trial"]["complete_trials_in_study"] == len(complete)

    bad = invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--report", "--top-k", "2")
    assert bad.stderr == "error: --report takes no --top-k or --seeds: it reports on the runs already queued\n"
    missing = invoke("confirm", "--study", "tiny-retrieval", "--storage", url, "--top-k", "2")
    assert missing.stderr == "error: give --top-k K and --seeds S to queue confirmation runs, or --report\n"

    distinct = {json.dumps(t.params, sort_keys=True) for t in complete}
    more = hpo("confirm", "--study", "tiny-retrieval", "--top-k", "9", "--seeds", "2", storage=url)
    assert more.returncode == 0, more.stderr
    assert f"has {len(distinct)} distinct complete configs, fewer than --top-k 9: confirming those" in more.stderr


def test_the_report_header_of_a_pair_task_has_no_empty_parentheses() -> None:
    from hpo.results.confirm import ConfigRuns, ConfirmationReport

    runs = ConfigRuns(trial=3, search_value=0.71, params={"lr": 1e-4}, values={43: 0.70, 44: 0.72}, items=[], pending=0)
    pairs = ConfirmationReport("quora", "ap", "", [runs], search_best=3)
    assert pairs.describe().splitlines()[0] == "confirmation of study quora: ap on dev, mean ± sd over seeds"
    retrieval = ConfirmationReport("bio", "ndcg@10", "full (500 passages)", [runs], search_best=3)
    assert retrieval.describe().splitlines()[0] == (
        "confirmation of study bio: ndcg@10 on dev (full (500 passages)), mean ± sd over seeds"
    )
