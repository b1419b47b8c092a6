"""What others read: the report, the published model card and the dashboard note show user text
as text (HTML escaped) and name local models and data files by their names, not local paths."""

from __future__ import annotations

import shutil
from pathlib import Path

from optuna_dashboard._note import get_note_from_system_attrs

from hpo.markdown import markdown_text
from tests.helpers import invoke, retrieval_config, storage, write_config

NAME = "<img src=x onerror=alert(1)>"


def test_markdown_text_escapes_html_and_table_pipes() -> None:
    assert markdown_text("<b>a|b</b> & c") == "&lt;b&gt;a\\|b&lt;/b&gt; &amp; c"
    assert markdown_text(0.5) == "0.5"


def test_user_text_is_escaped_and_local_paths_are_not_published(tmp_path: Path, tiny_model: str) -> None:
    model = shutil.copytree(tiny_model, tmp_path / NAME)
    raw = retrieval_config(str(model), budget={"n_trials": 1}, pruner={"type": "none"})
    raw["search_space"]["model"] = {"type": "categorical", "choices": [str(model)]}  # a param, so in every table
    url = f"sqlite:///{tmp_path}/study.db"
    assert invoke("create-study", "--config", str(write_config(tmp_path, raw)), "--storage", url).exit_code == 0
    study = ("--study", "tiny-retrieval", "--storage", url)
    assert invoke("worker", *study).exit_code == 0
    assert invoke("report", *study, "-o", str(tmp_path / "r")).exit_code == 0
    assert invoke("best", *study, "-o", str(tmp_path / "best.yaml")).exit_code == 0
    trained = invoke("train", str(tmp_path / "best.yaml"), "-o", str(tmp_path / "final"))
    assert trained.exit_code == 0, trained.stderr

    backend = storage(url).backend
    note = get_note_from_system_attrs(
        backend.get_study_system_attrs(backend.get_study_id_from_name("tiny-retrieval")), None
    )["body"]
    # The fronts are a fenced code block, where Markdown renders no HTML: the name shows as it is.
    report = "".join((tmp_path / "r" / "report.md").read_text().split("```")[::2])
    card = (tmp_path / "final" / "README.md").read_text()
    card = card[card.index("## Hyperparameter search") :]  # hpo's section (sentence-transformers wrote the rest)
    for text in (note, report, card):
        assert NAME not in text
        assert markdown_text(NAME) in text
    assert f"| model | {markdown_text(NAME)} |" in card  # by its folder's name
    assert str(tmp_path) not in card
