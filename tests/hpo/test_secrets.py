"""No secret of a storage URL in any output, at any log level; no model code run unless the worker allows it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import hpo, load_study, retrieval_config, write_config

SECRET = "Hunter2-s3cret"


def _forms(url: str) -> dict[str, str]:
    """The same Postgres database with the secret in each place a URL can carry one (trust auth accepts any)."""
    base, database = url.rsplit("/", 1)
    host = base.split("@", 1)[1]
    return {
        "userinfo": f"postgresql+psycopg2://postgres:{SECRET}@{host}/{database}",
        "at-sign": f"postgresql+psycopg2://postgres:{SECRET}@x@{host}/{database}",
        "query": f"postgresql+psycopg2://postgres@{host}/{database}?password={SECRET}",
        "sslpassword": f"postgresql+psycopg2://postgres@{host}/{database}?sslpassword={SECRET}&sslmode=disable",
    }


@pytest.mark.postgres
@pytest.mark.parametrize("form", ["userinfo", "at-sign", "query", "sslpassword"])
def test_no_secret_in_any_output_at_any_level(form: str, tmp_path: Path, tiny_model: str, postgres_url: str) -> None:
    url = _forms(postgres_url)[form]
    missing_db = url.replace(postgres_url.rsplit("/", 1)[1], "no_such_database")
    config = str(write_config(tmp_path, retrieval_config(tiny_model, budget={"n_trials": 1})))
    # Errors (with --debug's traceback) and DEBUG logs for every form; a whole study for one of them.
    runs = [
        (url, ["--debug", "status", "--study", "not-there"]),
        (missing_db, ["--log-level", "DEBUG", "worker", "--study", "x"]),
    ]
    if form == "userinfo":
        runs += [
            (url, ["--log-level", "DEBUG", "create-study", "--config", config]),
            (url, ["--debug", "create-study", "--config", config]),  # exists already
            (url, ["--log-level", "DEBUG", "worker", "--study", "tiny-retrieval"]),
            (missing_db, ["--debug", "studies"]),
        ]
    for storage, args in runs:
        result = hpo(*args, storage=storage, timeout=300)
        output = result.stdout + result.stderr
        assert SECRET not in output, (args, output[-3000:])
        assert "***" in output or result.returncode == 0  # the errors show the URL, redacted
        assert SECRET.replace("-", "%2D") not in output


def _model_with_code(tiny_model: str, folder: Path, marker: Path) -> str:
    """The tiny model with a custom model class: importing its code writes ``marker``."""
    model = folder / "model-with-code"
    shutil.copytree(tiny_model, model)
    (model / "modeling_marked.py").write_text(
        "from pathlib import Path\n"
        "from transformers import BertModel\n"
        f"Path({str(marker)!r}).write_text('the model code ran')\n"
        "class MarkedBertModel(BertModel):\n"
        "    pass\n"
    )
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_marked.MarkedBertModel"}
    (model / "config.json").write_text(json.dumps(config))
    return str(model)


def test_a_study_cannot_make_a_worker_run_model_code(tmp_path: Path, tiny_model: str) -> None:
    marker = tmp_path / "ran.txt"
    model = _model_with_code(tiny_model, tmp_path, marker)
    storage = f"sqlite:///{tmp_path}/study.db"
    raw = retrieval_config(model, budget={"n_trials": 1}, trust_remote_code=True)
    assert hpo("create-study", "--config", str(write_config(tmp_path, raw)), storage=storage).returncode == 0
    assert not marker.exists()  # create-study reads the model's config, never its code

    refused = hpo("worker", "--study", "tiny-retrieval", storage=storage)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: study 'tiny-retrieval' asks to run model code from the Hub (trust_remote_code: true) for {model}, "
        f"which --trust-remote-code does not name; if you trust it, run again with --trust-remote-code {model}"
    )
    other = hpo("worker", "--study", "tiny-retrieval", "--trust-remote-code", "org/other", storage=storage)
    assert other.returncode == 2  # a consent that names another model is no consent for this one
    assert other.stderr.strip().splitlines()[-1].endswith(f"run again with --trust-remote-code org/other,{model}")
    assert "RUNNING" not in {t.state.name for t in load_study(storage).trials}
    assert not marker.exists()

    allowed = hpo("worker", "--study", "tiny-retrieval", "--trust-remote-code", model, storage=storage)
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert f"trial 0: model '{model}' runs code from the Hub (--trust-remote-code)" in allowed.stderr
    assert marker.read_text() == "the model code ran"  # the consent is what lets it run
