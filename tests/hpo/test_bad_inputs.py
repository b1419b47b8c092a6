"""Bad input, end to end through the CLI: one line naming what is wrong, exit code 2, nothing written.

Each row: what to run (placeholders {dir} for the test folder, {db} for the storage URL) and the
exact line printed on stderr. The storage file must not exist afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import invoke, retrieval_config


def _config(**changes: Any) -> dict[str, Any]:
    config = retrieval_config("some/model")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for key in parents:
            node = node[key]
        node[last] = value
    return config


def _pairs_config(train: str) -> dict[str, Any]:
    config = _config(objective="pair-classification")
    config["search_space"]["loss"] = "OnlineContrastiveLoss"
    config["data"] = {"train": {"path": train}}
    return config


GOOD_PAIRS = [{"text1": f"q{i}", "text2": f"p{i}", "label": i % 2} for i in range(40)]

# (id, config or None, data rows or raw text or None, extra args, expected stderr after "error: ")
CASES: list[tuple[str, Any, Any, list[str], str]] = [
    (
        "config-missing",
        None,
        None,
        ["create-study", "--config", "{dir}/nope.yaml"],
        "{dir}/nope.yaml: config file not found",
    ),
    (
        "yaml-invalid",
        "study_name: [a\n",
        None,
        [],
        "{dir}/study.yaml: invalid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>'",
    ),
    (
        "yaml-not-mapping",
        "- a\n- b\n",
        None,
        [],
        "{dir}/study.yaml: expected a mapping of keys at the top level, got list",
    ),
    (
        "key-typo",
        _config(studyname="x"),
        None,
        [],
        "{dir}/study.yaml: unknown key 'studyname'; did you mean 'study_name'? (allowed: study_name, objective, data, metric, direction, search_space, evaluation, sampler, pruner, budget, fault_tolerance, warm_start, seed, precision, trust_remote_code, significance, cost)",
    ),
    (
        "objective",
        _config(objective="ranking"),
        None,
        [],
        "{dir}/study.yaml: objective: Input should be 'retrieval', 'pair-classification' or 'similarity' (got 'ranking')",
    ),
    (
        "metric",
        _config(metric="ap"),
        None,
        [],
        "{dir}/study.yaml: metric 'ap' is not reported by the retrieval evaluator (use one of: ndcg@10, mrr@10, map@100, recall@10, accuracy@1)",
    ),
    (
        "loss-objective",
        _config(search_space__loss="OnlineContrastiveLoss"),
        None,
        [],
        "{dir}/study.yaml: search_space.loss: 'OnlineContrastiveLoss' is not a retrieval loss (allowed: MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss)",
    ),
    (
        "loss-param",
        _config(search_space__loss={"MultipleNegativesRankingLoss": {"margin": 1.0}}),
        None,
        [],
        "{dir}/study.yaml: search_space.loss.MultipleNegativesRankingLoss: unknown key 'margin' (allowed: scale)",
    ),
    (
        "log-range",
        _config(search_space__learning_rate={"type": "float", "low": 0.0, "high": 0.1, "log": True}),
        None,
        [],
        "{dir}/study.yaml: search_space.learning_rate: a log-scale range needs low > 0 (got 0.0)",
    ),
    (
        "batch-float",
        _config(search_space__batch_size=12.5),
        None,
        [],
        "{dir}/study.yaml: search_space: batch_size: 12.5 is not allowed (needs batch_size >= 2)",
    ),
    (
        "schedule",
        _config(evaluation={"every_samples": 8}),
        None,
        [],
        "evaluation.every_samples (8) is smaller than the largest batch_size (16); evaluations would be skipped for large batches",
    ),
    (
        "warm-start",
        _config(warm_start={"recipes": [{"batch_size": 64}]}),
        None,
        [],
        "{dir}/study.yaml: warm_start.recipes[0].batch_size: 64 differs from the fixed value 16 in search_space",
    ),
    (
        "grace",
        _config(fault_tolerance={"heartbeat_interval": 30, "grace_period": 30}),
        None,
        [],
        "{dir}/study.yaml: fault_tolerance: grace_period (30) must be longer than heartbeat_interval (30)",
    ),
    (
        "two-origins",
        _config(data={"train": {"path": "a.jsonl", "builtin": "stdlib-docstrings"}}),
        None,
        [],
        "{dir}/study.yaml: data.train: give exactly one of 'path', 'hub' or 'builtin'",
    ),
    (
        "file-type",
        _config(data={"train": {"path": "train.xlsx"}}),
        None,
        [],
        "{dir}/study.yaml: data.train.path: unsupported file type '.xlsx' for 'train.xlsx' (use one of: .csv, .json, .jsonl, .parquet)",
    ),
    ("data-missing", _pairs_config("missing.jsonl"), None, [], "data.train: file not found: {dir}/missing.jsonl"),
    (
        "data-column",
        _pairs_config("train.jsonl"),
        [{"text1": "a", "label": 1}],
        [],
        "data.train ({dir}/train.jsonl): column 'text2' (text2) not found; columns are: text1, label (map it with data.columns.text2)",
    ),
    (
        "data-empty",
        _pairs_config("train.jsonl"),
        [*GOOD_PAIRS, {"text1": "", "text2": "b", "label": 0}],
        [],
        "data.train ({dir}/train.jsonl): row 41: column 'text1' (text1) is empty",
    ),
    (
        "data-label",
        _pairs_config("train.jsonl"),
        [*GOOD_PAIRS, {"text1": "a", "text2": "b", "label": -1}],
        [],
        "data.train ({dir}/train.jsonl): row 41: column 'label' (label) must be 0 or 1, got -1",
    ),
    (
        "data-one-label",
        _pairs_config("train.jsonl"),
        [{**r, "label": 0} for r in GOOD_PAIRS],
        [],
        "data.train: all 28 pairs have label 0; both 0 and 1 are needed",
    ),
    (
        "data-malformed",
        _pairs_config("train.jsonl"),
        '{"text1": "a"\n',
        [],
        "data.train: cannot read {dir}/train.jsonl: ",
    ),
    (
        "data-relevant-id",
        "relevant",
        None,
        [],
        "data.train ({dir}/train.jsonl): row 1: relevant id 'd2' is not in data.corpus",
    ),
    (
        "storage-scheme",
        None,
        None,
        ["studies", "--storage", "mongodb://u:pw@h/db"],
        "storage URL 'mongodb://u:***@h/db': unsupported scheme 'mongodb' (use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)",
    ),
    (
        "storage-no-scheme",
        None,
        None,
        ["studies", "--storage", "hpo.db"],
        "storage URL 'hpo.db': unsupported scheme '' (use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)",
    ),
    (
        "modal-sqlite",
        None,
        None,
        ["modal", "--study", "s", "--storage", "{db}"],
        "storage URL '{db}' is a local SQLite file that a cloud container cannot reach; use a Postgres URL reachable from the internet (managed, or tunnelled)",
    ),
    (
        "gpus",
        None,
        None,
        ["worker", "--study", "s", "--gpus", "first", "--storage", "{db}"],
        "--gpus 'first': give GPU indices like 0,1 or 'all'",
    ),
    (
        "splits",
        None,
        None,
        ["train", "{dir}/best.yaml", "-o", "{dir}/out", "--splits", "test"],
        "--splits 'test': use 'train' or 'train,dev' (the test split is never trained on)",
    ),
    ("best-file", None, None, ["train", "{dir}/nope.yaml", "-o", "{dir}/out"], "{dir}/nope.yaml: file not found"),
]


def _prepare(tmp: Path, config: Any, data: Any) -> None:
    if config == "relevant":
        (tmp / "train.jsonl").write_text(json.dumps({"query": "q", "ids": ["d1", "d2"]}) + "\n")
        (tmp / "corpus.jsonl").write_text(json.dumps({"id": "d1", "text": "passage"}) + "\n")
        config = _config(
            data={
                "train": {"path": "train.jsonl"},
                "corpus": {"path": "corpus.jsonl"},
                "columns": {"relevant_ids": "ids"},
            }
        )
    if isinstance(config, str):
        (tmp / "study.yaml").write_text(config)
    elif config is not None:
        (tmp / "study.yaml").write_text(yaml.safe_dump(config))
    if isinstance(data, str):
        (tmp / "train.jsonl").write_text(data)
    elif data is not None:
        (tmp / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))


@pytest.mark.parametrize(("config", "data", "args", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input(tmp_path: Path, config: Any, data: Any, args: list[str], message: str) -> None:
    assert len(CASES) >= 25
    _prepare(tmp_path, config, data)
    db = tmp_path / "study.db"
    fill = {"dir": str(tmp_path), "db": f"sqlite:///{db}"}
    argv = [a.format(**fill) for a in args] or ["create-study", "--config", str(tmp_path / "study.yaml")]
    if "--storage" not in argv:
        argv += ["--storage", fill["db"]] if argv[0] in {"create-study", "worker", "studies"} else []
    result = invoke(*argv)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: " + message.format(**fill))
    assert result.stderr.count("\n") == 1  # one line
    assert not db.exists()  # nothing written
