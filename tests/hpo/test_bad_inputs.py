"""Bad input, end to end through the CLI: one line naming what is wrong, exit code 2, nothing written.

Each case: the files to prepare (a study config, training rows, other files), what to run, and the
exact line printed on stderr. Placeholders: {dir} the test folder, {db} the storage URL, {model}
the tiny model's folder. Afterwards the folder holds exactly the prepared files: no study
database, no half-written output.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import invoke, retrieval_config

MODEL = "{model}"
GOOD_PAIRS = [{"text1": f"q{i}", "text2": f"p{i}", "label": i % 2} for i in range(40)]
GOOD_QUERIES = [{"query": f"question {i}?", "positive": f"answer {i}", "qid": f"q{i}"} for i in range(40)]
SCHEME_HELP = "(use sqlite:///FILE.db, postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB or grpc://HOST:PORT)"


def _config(**changes: Any) -> dict[str, Any]:
    """The tiny retrieval study with ``a__b=value`` set at ``config[a][b]``."""
    config = retrieval_config(MODEL)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


def _pairs_config(train: str = "train.jsonl", objective: str = "pair-classification", **changes: Any) -> dict[str, Any]:
    config = _config(objective=objective, **changes)
    config["search_space"]["loss"] = "OnlineContrastiveLoss" if objective == "pair-classification" else "CoSENTLoss"
    config["data"] = {"train": {"path": train}}
    return config


def _files_config(**data: Any) -> dict[str, Any]:
    config = _config()
    config["data"] = {"train": {"path": "train.jsonl"}, "columns": {"query_id": "qid"}, **data}
    return config


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _best(config: dict[str, Any] | None = None, **training: Any) -> str:
    """A hand-edited best-trial file."""
    values = {
        "model": MODEL,
        "loss": "MultipleNegativesRankingLoss",
        "learning_rate": 1e-4,
        "batch_size": 16,
        "epochs": 1,
        "warmup_ratio": 0.1,
        "weight_decay": 0.0,
        "max_seq_length": 48,
        "scheduler": "linear",
        "loss_params": {},
    }
    return yaml.safe_dump({"config": config or retrieval_config(MODEL), "training": {**values, **training}})


@dataclass(frozen=True)
class Case:
    id: str
    message: str
    config: Any = None  # a mapping, YAML text, or bytes for study.yaml
    files: dict[str, Any] = field(default_factory=dict)  # name -> rows, text or bytes
    args: list[str] = field(default_factory=list)  # default: create-study with study.yaml


def _corpus_case(id: str, message: str, relevant: Any = ("d1",), corpus: Any = None) -> Case:
    """One training query with ``relevant`` ids, against a corpus file of ``corpus`` rows."""
    rows = {"train.jsonl": [{"query": "q", "relevant_ids": relevant, "qid": "a"}]}
    corpus_rows = corpus or [{"id": "d1", "text": "passage"}]
    return Case(
        id, message, _files_config(corpus={"path": "corpus.jsonl"}), files={**rows, "corpus.jsonl": corpus_rows}
    )


CONFIG_FILE = [
    Case(
        "config-missing", "{dir}/nope.yaml: config file not found", args=["create-study", "--config", "{dir}/nope.yaml"]
    ),
    Case("config-folder", "{dir}: cannot read config file: Is a directory", args=["create-study", "--config", "{dir}"]),
    Case(
        "yaml-invalid",
        "{dir}/study.yaml: invalid YAML at line 2, column 1: expected ',' or ']', but got '<stream end>'",
        "study_name: [a\n",
    ),
    Case("yaml-not-mapping", "{dir}/study.yaml: expected a mapping of keys at the top level, got list", "- a\n- b\n"),
    Case("yaml-empty", "{dir}/study.yaml: expected a mapping of keys at the top level, got NoneType", ""),
    Case(
        "yaml-duplicate-key",
        "{dir}/study.yaml: duplicate key 'seed' at line 2 (first at line 1)",
        "seed: 1\nseed: 2\n",
    ),
    Case(
        "yaml-merge-key",
        "{dir}/study.yaml: merge key '<<' at line 2 is not supported; write the keys out",
        "base: &b {seed: 1}\nother: {<<: *b}\n",
    ),
    Case("yaml-utf16", "{dir}/study.yaml: the file is UTF-16; save it as UTF-8", "seed: 1\n".encode("utf-16")),
    Case(
        "yaml-latin1",
        "{dir}/study.yaml: not valid UTF-8 at byte 16 (line 1, column 17): 0xe9; save the file as UTF-8",
        b"study_name: cafx\xe9-study\n",  # Latin-1, not UTF-8
    ),
    Case(
        "yaml-control-char",
        "{dir}/study.yaml: invalid YAML at line 1, column 13: character U+0007 is not allowed in YAML; remove it",
        "study_name: \x07\n",
    ),
]

CONFIG_VALUES = [
    Case(
        "key-typo",
        "{dir}/study.yaml: unknown key 'studyname'; did you mean 'study_name'? (allowed: study_name, objective, "
        "data, metric, direction, search_space, evaluation, sampler, pruner, budget, fault_tolerance, warm_start, "
        "seed, precision, trust_remote_code, significance, cost)",
        _config(studyname="x"),
    ),
    Case(
        "study-name",
        "{dir}/study.yaml: study_name: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]*$' (got 'my study')",
        _config(study_name="my study"),
    ),
    Case(
        "objective",
        "{dir}/study.yaml: objective: Input should be 'retrieval', 'pair-classification' or 'similarity' (got 'ranking')",
        _config(objective="ranking"),
    ),
    Case(
        "metric",
        "{dir}/study.yaml: metric 'ap' is not reported by the retrieval evaluator (use one of: ndcg@10, mrr@10, "
        "map@100, recall@10, accuracy@1)",
        _config(metric="ap"),
    ),
    Case(
        "metric-similarity",
        "{dir}/study.yaml: metric 'ndcg@10' is not reported by the similarity evaluator (use one of: spearman, pearson)",
        _pairs_config(objective="similarity", metric="ndcg@10"),
    ),
    Case(
        "direction",
        "{dir}/study.yaml: direction: Input should be 'maximize' or 'minimize' (got 'up')",
        _config(direction="up"),
    ),
    Case(
        "loss-objective",
        "{dir}/study.yaml: search_space.loss: 'OnlineContrastiveLoss' is not a retrieval loss (allowed: "
        "MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss, TripletLoss)",
        _config(search_space__loss="OnlineContrastiveLoss"),
    ),
    Case(
        "loss-typo",
        "{dir}/study.yaml: search_space.loss: 'MultipleNegativeRankingLoss' is not a retrieval loss; did you mean "
        "'MultipleNegativesRankingLoss'? (allowed: MultipleNegativesRankingLoss, CachedMultipleNegativesRankingLoss, "
        "MultipleNegativesSymmetricRankingLoss, TripletLoss)",
        _config(search_space__loss="MultipleNegativeRankingLoss"),
    ),
    Case(
        "loss-param",
        "{dir}/study.yaml: search_space.loss.MultipleNegativesRankingLoss: unknown key 'margin' (allowed: scale)",
        _config(search_space__loss={"MultipleNegativesRankingLoss": {"margin": 1.0}}),
    ),
    Case(
        "loss-param-type",
        "{dir}/study.yaml: search_space.loss.MultipleNegativesRankingLoss.scale: 'big' is not float-valued",
        _config(search_space__loss={"MultipleNegativesRankingLoss": {"scale": "big"}}),
    ),
    Case(
        "loss-param-range",
        "{dir}/study.yaml: search_space.loss.CachedMultipleNegativesRankingLoss.mini_batch_size: 0 is not allowed "
        "(needs >= 1)",
        _config(search_space__loss={"CachedMultipleNegativesRankingLoss": {"mini_batch_size": 0}}),
    ),
    Case(
        "loss-margin-negative",
        "{dir}/study.yaml: search_space.loss.OnlineContrastiveLoss.margin: -0.5 is not allowed (needs >= 0.0)",
        {
            **_pairs_config(),
            "search_space": {**_pairs_config()["search_space"], "loss": {"OnlineContrastiveLoss": {"margin": -0.5}}},
        },
        files={"train.jsonl": GOOD_PAIRS},
    ),
    Case(
        "loss-with-type",
        "{dir}/study.yaml: search_space.loss: write the loss as a mapping of loss name to its parameters, e.g. "
        "{{MultipleNegativesRankingLoss: {{scale: 20}}}}; several names mean the loss is searched",
        _config(search_space__loss={"type": "categorical", "choices": ["a"]}),
    ),
    Case(
        "log-range",
        "{dir}/study.yaml: search_space.learning_rate: a log-scale range needs low > 0 (got 0.0)",
        _config(search_space__learning_rate={"type": "float", "low": 0.0, "high": 0.1, "log": True}),
    ),
    Case(
        "low-above-high",
        "{dir}/study.yaml: search_space.learning_rate: low (0.1) must not exceed high (0.01)",
        _config(search_space__learning_rate={"type": "float", "low": 0.1, "high": 0.01}),
    ),
    Case(
        "int-step-zero",
        "{dir}/study.yaml: search_space.epochs: step must be above 0 (got 0)",
        _config(search_space__epochs={"type": "int", "low": 1, "high": 3, "step": 0}),
    ),
    Case(
        "float-step-zero",
        "{dir}/study.yaml: search_space.warmup_ratio: step must be above 0 (got 0.0)",
        _config(search_space__warmup_ratio={"type": "float", "low": 0.0, "high": 0.3, "step": 0.0}),
    ),
    Case(
        "no-type",
        "{dir}/study.yaml: search_space.learning_rate: a searched parameter needs 'type' set to one of: float, int, "
        "categorical (got None); write a plain value to fix it",
        _config(search_space__learning_rate={"low": 0.1, "high": 0.2}),
    ),
    Case(
        "list-param",
        "{dir}/study.yaml: search_space.batch_size: a list is not a parameter; use {{type: categorical, choices: [...]}}",
        _config(search_space__batch_size=[16, 32]),
    ),
    Case(
        "empty-choices",
        "{dir}/study.yaml: search_space.batch_size.choices: List should have at least 1 item after validation, not 0",
        _config(search_space__batch_size={"type": "categorical", "choices": []}),
    ),
    Case(
        "batch-float",
        "{dir}/study.yaml: search_space: batch_size: 12.5 is not allowed (needs batch_size >= 2)",
        _config(search_space__batch_size=12.5),
    ),
    Case(
        "epochs-bool",
        "{dir}/study.yaml: search_space: epochs: True is not allowed (needs epochs >= 1)",
        _config(search_space__epochs=True),
    ),
    Case(
        "lr-fixed-out-of-range",
        "{dir}/study.yaml: search_space: learning_rate: 2.0 is not allowed (needs 0 < learning_rate < 1)",
        _config(search_space__learning_rate=2.0),
    ),
    Case(
        "scheduler",
        "{dir}/study.yaml: search_space: scheduler: 'triangle' is not allowed (needs one of: linear, cosine, "
        "constant, constant_with_warmup, polynomial)",
        _config(search_space__scheduler="triangle"),
    ),
    Case(
        "seq-length-small",
        "{dir}/study.yaml: search_space: max_seq_length: 4 is not allowed (needs max_seq_length >= 8 or null)",
        _config(search_space__max_seq_length=4),
    ),
    Case(
        "seq-length-model-limit",
        "search_space.max_seq_length: 512 exceeds the 256 tokens model '{model}' supports",
        _config(search_space__max_seq_length=512),
    ),
    Case(
        "model-folder-missing",
        "search_space.model: model folder '{dir}/no-such-model' not found (nor is it a Hub id like 'org/name')",
        _config(search_space__model="{dir}/no-such-model"),
    ),
    Case(
        "model-not-cached",
        "search_space.model: 'org/not-downloaded' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
        "(download it once with the Hub reachable, or give a local model folder)",
        _config(search_space__model="org/not-downloaded"),
    ),
    Case(
        "model-folder-empty",
        "search_space.model: '{dir}' is not a model folder (no config.json or modules.json in it)",
        _config(search_space__model="{dir}"),
    ),
    Case(
        "seed-negative",
        "{dir}/study.yaml: seed: Input should be greater than or equal to 0 (got -1)",
        _config(seed=-1),
    ),
    Case(
        "seed-too-large",
        "{dir}/study.yaml: seed: Input should be less than or equal to 4294967295 (got 4294967296)",
        _config(seed=2**32),
    ),
    Case("seed-bool", "{dir}/study.yaml: seed: expected an integer, got true", _config(seed=True)),
    Case(
        "n-trials-yes",
        "{dir}/study.yaml: budget.n_trials: expected an integer, got text 'yes'",
        "\n".join(yaml.safe_dump(_config()).splitlines()).replace("n_trials: 4", "n_trials: yes") + "\n",
    ),
    Case(
        "n-trials-huge",
        "{dir}/study.yaml: budget.n_trials: Input should be less than or equal to 100000 (got 100000000)",
        _config(budget={"n_trials": 10**8}),
    ),
    Case(
        "n-trials-zero",
        "{dir}/study.yaml: budget.n_trials: Input should be greater than 0 (got 0)",
        _config(budget={"n_trials": 0}),
    ),
    Case(
        "schedule",
        "evaluation.every_samples (8) is smaller than the largest batch_size (16); evaluations would be skipped for "
        "large batches",
        _config(evaluation={"every_samples": 8}),
    ),
    Case(
        "schedule-past-epoch",
        "evaluation.every_samples (5000) exceeds the 96 training samples of one epoch; no intermediate evaluation "
        "would happen in the first epoch",
        _config(evaluation={"every_samples": 5000}),
    ),
    Case(
        "every-samples-missing",
        "{dir}/study.yaml: evaluation.every_samples: missing required key",
        _config(evaluation={}),
    ),
    Case(
        "corpus-cap-zero",
        "{dir}/study.yaml: evaluation.corpus_cap: Input should be greater than 0 (got 0)",
        _config(evaluation={"every_samples": 32, "corpus_cap": 0}),
    ),
    Case(
        "cap-negatives",
        "{dir}/study.yaml: evaluation.cap_negatives: Input should be 'bm25' or 'random' (got 'dense')",
        _config(evaluation={"every_samples": 32, "cap_negatives": "dense"}),
    ),
    Case(
        "final-corpus",
        "{dir}/study.yaml: evaluation.final_corpus: Input should be 'full' or 'capped' (got 'all')",
        _config(evaluation={"every_samples": 32, "final_corpus": "all"}),
    ),
    Case(
        "sampler",
        "{dir}/study.yaml: sampler: Input tag 'grid' found using 'type' does not match any of the expected tags: "
        "'tpe', 'random'",
        _config(sampler={"type": "grid"}),
    ),
    Case(
        "pruner-percentile",
        "{dir}/study.yaml: pruner.percentile: Input should be less than 100 (got 150)",
        _config(pruner={"type": "percentile", "percentile": 150}),
    ),
    Case(
        "pruner-hyperband",
        "{dir}/study.yaml: pruner.min_resource: Input should be greater than 0 (got 0)",
        _config(pruner={"type": "hyperband", "min_resource": 0}),
    ),
    Case(
        "warm-start",
        "{dir}/study.yaml: warm_start.recipes[0].batch_size: 64 differs from the fixed value 16 in search_space",
        _config(warm_start={"recipes": [{"batch_size": 64}]}),
    ),
    Case(
        "warm-start-too-many",
        "{dir}/study.yaml: warm_start gives 2 trials but budget.n_trials is 1",
        _config(warm_start={"recipes": [{"learning_rate": 1e-4}, {"learning_rate": 1e-3}]}, budget={"n_trials": 1}),
    ),
    Case(
        "grace",
        "{dir}/study.yaml: fault_tolerance: grace_period (30) must be longer than heartbeat_interval (30)",
        _config(fault_tolerance={"heartbeat_interval": 30, "grace_period": 30}),
    ),
    Case(
        "heartbeat-zero",
        "{dir}/study.yaml: fault_tolerance.heartbeat_interval: Input should be greater than 0 (got 0)",
        _config(fault_tolerance={"heartbeat_interval": 0}),
    ),
    Case(
        "precision",
        "{dir}/study.yaml: precision: Input should be 'auto' or 'fp32' (got 'fp8')",
        _config(precision="fp8"),
    ),
    Case(
        "two-origins",
        "{dir}/study.yaml: data.train: give exactly one of 'path', 'hub' or 'builtin'",
        _config(data={"train": {"path": "a.jsonl", "builtin": "stdlib-docstrings"}}),
    ),
    Case(
        "file-type",
        "{dir}/study.yaml: data.train.path: unsupported file type '.xlsx' for 'train.xlsx' (use one of: .csv, .json, "
        ".jsonl, .parquet)",
        _config(data={"train": {"path": "train.xlsx"}}),
    ),
    Case(
        "hub-without-split",
        "{dir}/study.yaml: data.train: hub dataset 'org/set' needs a 'split' (e.g. split: train)",
        _config(data={"train": {"hub": "org/set"}}),
    ),
    Case(
        "split-on-path",
        "{dir}/study.yaml: data.train: 'name', 'split' and 'revision' apply only to a 'hub' dataset",
        _config(data={"train": {"path": "train.jsonl", "split": "train"}}),
    ),
    Case(
        "dev-fraction",
        "{dir}/study.yaml: data.dev_fraction: Input should be less than 0.5 (got 0.6)",
        _config(data__dev_fraction=0.6),
    ),
    Case(
        "column-role",
        "{dir}/study.yaml: data.columns: unknown key 'question' (allowed: query, positive, relevant_ids, query_id)",
        _config(data__columns={"question": "q"}),
    ),
    Case(
        "relevant-ids-without-corpus",
        "{dir}/study.yaml: data.columns.relevant_ids needs data.corpus (the passage file)",
        _config(data__columns={"relevant_ids": "ids"}),
    ),
    Case(
        "corpus-text-column-key",
        "{dir}/study.yaml: data.corpus: unknown key 'text' (allowed: path, hub, name, "
        "split, revision, builtin, id_column, text_column)",
        _files_config(corpus={"path": "corpus.jsonl", "text": "passage"}),
    ),
    Case(
        "remote-code-is-not-data",
        "{dir}/study.yaml: trust_remote_code: Input should be a valid boolean, unable to interpret input (got 'maybe')",
        _config(trust_remote_code="maybe"),
    ),
]

DATA_FILES = [
    Case(
        "data-missing",
        "data.train: file not found: {dir}/missing.jsonl",
        _pairs_config("missing.jsonl"),
    ),
    Case(
        "data-column",
        "data.train ({dir}/train.jsonl): column 'text2' (text2) not found; columns are: text1, label (map it with "
        "data.columns.text2)",
        _pairs_config(),
        files={"train.jsonl": [{"text1": "a", "label": 1}]},
    ),
    Case(
        "data-empty-text",
        "data.train ({dir}/train.jsonl): row 41: column 'text1' (text1) is empty",
        _pairs_config(),
        files={"train.jsonl": [*GOOD_PAIRS, {"text1": "", "text2": "b", "label": 0}]},
    ),
    Case(
        "data-null-text",
        "data.train ({dir}/train.jsonl): row 41: column 'text2' (text2) is empty",
        _pairs_config(),
        files={"train.jsonl": [*GOOD_PAIRS, {"text1": "a", "text2": None, "label": 0}]},
    ),
    Case(
        "data-text-number",
        "data.train ({dir}/train.jsonl): row 41: column 'text1' (text1) must be text, got int",
        _pairs_config(),
        files={"train.jsonl": [*GOOD_PAIRS, {"text1": 7, "text2": "b", "label": 0}]},
    ),
    Case(
        "data-label",
        "data.train ({dir}/train.jsonl): row 41: column 'label' (label) must be 0 or 1, got -1; for other labels set data.positive_label to the value that means a match",
        _pairs_config(),
        files={"train.jsonl": [*GOOD_PAIRS, {"text1": "a", "text2": "b", "label": -1}]},
    ),
    Case(
        "data-one-label",
        "data.train: all 28 pairs have label 0; both 0 and 1 are needed",
        _pairs_config(),
        files={"train.jsonl": [{**r, "label": 0} for r in GOOD_PAIRS]},
    ),
    Case(
        "data-malformed",
        "data.train ({dir}/train.jsonl): line 1 is not valid JSON: Expecting ',' delimiter at column 14",
        _pairs_config(),
        files={"train.jsonl": '{"text1": "a"\n'},
    ),
    Case("data-no-rows", "data.train: cannot read {dir}/train.jsonl: ", _pairs_config(), files={"train.jsonl": ""}),
    Case(
        "score-out-of-range",
        "data.train ({dir}/train.jsonl): row 41: column 'score' (score) must be a number in [0, 1], got 4.5; for another scale set data.score_range, e.g. [0, 5], and it is rescaled",
        _pairs_config(objective="similarity"),
        files={
            "train.jsonl": [
                *[{"text1": f"q{i}", "text2": f"p{i}", "score": i / 40} for i in range(40)],
                {"text1": "a", "text2": "b", "score": 4.5},
            ]
        },
    ),
    Case(
        "score-text",
        "data.train ({dir}/train.jsonl): row 1: column 'score' (score) must be a number in [0, 1], got 'high'; for another scale set data.score_range, e.g. [0, 5], and it is rescaled",
        _pairs_config(objective="similarity"),
        files={"train.jsonl": [{"text1": "a", "text2": "b", "score": "high"}]},
    ),
    Case(
        "data-relevant-id",
        "data.train ({dir}/train.jsonl): row 1: relevant id 'd2' is not in data.corpus",
        _files_config(corpus={"path": "corpus.jsonl"}, columns={"relevant_ids": "ids"}),
        files={
            "train.jsonl": [{"query": "q", "ids": ["d1", "d2"]}],
            "corpus.jsonl": [{"id": "d1", "text": "passage"}],
        },
    ),
    _corpus_case(
        "relevant-ids-not-list",
        "data.train ({dir}/train.jsonl): row 1: column 'relevant_ids' (relevant_ids) must be a non-empty list of "
        "corpus ids",
        relevant={"d1": 1},
    ),
    _corpus_case(
        "corpus-duplicate-id",
        "data.corpus ({dir}/corpus.jsonl): row 2: duplicate id 'd1'",
        corpus=[{"id": "d1", "text": "one"}, {"id": "d1", "text": "two"}],
    ),
    _corpus_case(
        "corpus-text-column",
        "data.corpus ({dir}/corpus.jsonl): column 'text' (text) not found; columns are: id, passage (map it with "
        "data.corpus.text_column)",
        corpus=[{"id": "d1", "passage": "one"}],
    ),
    Case(
        "duplicate-query-id",
        "data.dev ({dir}/dev.jsonl): row 41: query id 'q3' is also the id of a different question (row 4); query ids "
        "must be unique",
        _files_config(dev={"path": "dev.jsonl"}),
        files={
            "train.jsonl": [
                {"query": f"train question {i}?", "positive": f"fact {i}", "qid": f"t{i}"} for i in range(40)
            ],
            "dev.jsonl": [*GOOD_QUERIES, {"query": "another question?", "positive": "x", "qid": "q3"}],
        },
    ),
    Case(
        "null-query-id",
        "data.train ({dir}/train.jsonl): row 41: column 'qid' (query_id) is empty",
        _files_config(),
        files={"train.jsonl": [*GOOD_QUERIES, {"query": "new?", "positive": "x", "qid": None}]},
    ),
    Case(
        "query-id-missing-in-one-file",
        "data.dev ({dir}/dev.jsonl): column 'qid' (query_id) not found; columns are: query, positive (map it with "
        "data.columns.query_id)",
        _files_config(dev={"path": "dev.jsonl"}),
        files={
            "train.jsonl": GOOD_QUERIES,
            "dev.jsonl": [{"query": "d?", "positive": "p"}],
        },
    ),
]

CLI = [
    Case(
        "gpus",
        "--gpus 'first': give GPU indices like 0,1 or 'all'",
        args=["worker", "--study", "s", "--gpus", "first", "--storage", "{db}"],
    ),
    Case(
        "per-gpu-zero",
        "Invalid value for '--per-gpu': 0 is not in the range x>=1. (see 'hpo worker --help')",
        args=["worker", "--study", "s", "--per-gpu", "0", "--storage", "{db}"],
    ),
    Case(
        "n-trials-option",
        "Invalid value for '--n-trials': 0 is not in the range x>=1. (see 'hpo worker --help')",
        args=["worker", "--study", "s", "--n-trials", "0", "--storage", "{db}"],
    ),
    Case(
        "missing-study-option",
        "Missing option '--study'. (see 'hpo worker --help')",
        args=["worker", "--storage", "{db}"],
    ),
    Case("command-typo", "No such command 'wroker'. Did you mean 'worker'? (see 'hpo --help')", args=["wroker"]),
    Case(
        "log-level",
        "Invalid value for '--log-level': 'LOUD' is not one of 'debug', 'info', 'warning', 'error'. (see 'hpo --help')",
        args=["--log-level", "LOUD", "studies", "--storage", "{db}"],
    ),
    Case(
        "splits",
        "--splits 'test': use 'train' or 'train,dev' (the test split is never trained on)",
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out", "--splits", "test"],
    ),
    Case("best-file", "{dir}/nope.yaml: file not found", args=["train", "{dir}/nope.yaml", "-o", "{dir}/out"]),
    Case(
        "best-not-export",
        "{dir}/best.yaml: not an exported best trial (missing 'config'); export one with: hpo best --study NAME -o best.yaml",
        files={"best.yaml": "study: x\n"},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "best-bad-learning-rate",
        "{dir}/best.yaml: training: learning_rate: 2.0 is not allowed (needs 0 < learning_rate < 1)",
        files={"best.yaml": _best(learning_rate=2.0)},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "best-bad-loss",
        "{dir}/best.yaml: training.loss: 'TripletLosss' is not a retrieval loss (allowed: MultipleNegativesRankingLoss, "
        "CachedMultipleNegativesRankingLoss, MultipleNegativesSymmetricRankingLoss, TripletLoss)",
        files={"best.yaml": _best(loss="TripletLosss")},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "best-bad-loss-param",
        "{dir}/best.yaml: training.loss_params: unknown key 'margin' (allowed: scale)",
        files={"best.yaml": _best(loss_params={"margin": 1.0})},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "best-unknown-key",
        "{dir}/best.yaml: training: unknown key 'lr' (allowed: model, loss, learning_rate, "
        "batch_size, epochs, warmup_ratio, weight_decay, max_seq_length, scheduler, loss_params, hard_negatives, "
        "matryoshka_dims)",
        files={"best.yaml": _best(lr=0.1)},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "train-output-under-file",
        "-o {dir}/best.yaml/model: {dir}/best.yaml is a file, not a folder",
        files={"best.yaml": _best()},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/best.yaml/model"],
    ),
    Case(
        "train-output-not-empty",
        "output folder {dir}/full is not empty; choose another or remove it",
        files={"best.yaml": _best(), "full/keep.txt": "x"},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/full"],
    ),
    Case(
        "train-compare-missing",
        "--compare: model folder '{dir}/no-model' not found (nor is it a Hub id like 'org/name')",
        files={"best.yaml": _best()},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out", "--compare", "{dir}/no-model"],
    ),
    Case(
        "train-push-offline",
        "--push-to-hub me/model: the Hugging Face Hub is offline (HF_HUB_OFFLINE is set)",
        files={"best.yaml": _best()},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out", "--push-to-hub", "me/model"],
    ),
    Case(
        "train-remote-code",
        "study 'tiny-retrieval' asks to run model code from the Hub (trust_remote_code: true) for {model}, which "
        "--trust-remote-code does not name; if you trust it, run again with --trust-remote-code {model}",
        files={"best.yaml": _best(config=retrieval_config(MODEL, trust_remote_code=True))},
        args=["train", "{dir}/best.yaml", "-o", "{dir}/out"],
    ),
    Case(
        "evaluate-config-missing",
        "{dir}/nope.yaml: config file not found",
        args=["evaluate", "{model}", "--config", "{dir}/nope.yaml"],
    ),
    Case(
        "report-storage-file-missing",
        "storage file {dir}/study.db does not exist; create a study there first (hpo create-study --config FILE --storage {db})",
        args=["report", "--study", "x", "--storage", "{db}", "-o", "{dir}/out"],
    ),
    # Options that do nothing in a combination, and the consent to run model code, are refused (issue 24).
    Case(
        "worker-per-gpu-without-gpus",
        "--per-gpu 2 applies only with --gpus: add --gpus IDS, or use --workers N",
        args=["worker", "--study", "s", "--per-gpu", "2", "--storage", "{db}"],
    ),
    Case(
        "worker-max-restarts-alone",
        "--max-restarts 1 applies only with --gpus or --workers (a supervisor)",
        args=["worker", "--study", "s", "--max-restarts", "1", "--storage", "{db}"],
    ),
    Case(
        "worker-gpus-and-workers",
        "--gpus and --workers: give one (several workers per GPU: --gpus IDS --per-gpu N)",
        args=["worker", "--study", "s", "--gpus", "0", "--workers", "2", "--storage", "{db}"],
    ),
    Case(
        "worker-workers-progress-bars",
        "--progress bars: supervised workers share one terminal and log plain lines; drop it or use --progress log",
        args=["worker", "--study", "s", "--workers", "2", "--progress", "bars", "--storage", "{db}"],
    ),
    Case(
        "best-pareto-confirmed",
        "--pareto lists the fronts and exports nothing: drop --confirmed",
        args=["best", "--study", "s", "--pareto", "--confirmed", "--storage", "{db}"],
    ),
    Case(
        "best-pareto-output",
        "--pareto lists the fronts and exports nothing: drop --max-cost, -o",
        args=["best", "--study", "s", "--pareto", "--max-cost", "1", "-o", "{dir}/b.yaml", "--storage", "{db}"],
    ),
    Case(
        "best-force-without-output",
        "--force replaces the file that -o names: add -o FILE, or drop --force",
        args=["best", "--study", "s", "--force", "--storage", "{db}"],
    ),
    Case(
        "confirm-json-without-report",
        "--json goes with --report (queueing runs prints one line): add --report, or drop --json",
        args=["confirm", "--study", "s", "--json", "--storage", "{db}"],
    ),
    Case(
        "trust-remote-code-bare",
        "--trust-remote-code needs the models you trust: --trust-remote-code MODEL[,MODEL] or --trust-remote-code all",
        _config(),
        args=["evaluate", "{model}", "--config", "{dir}/study.yaml", "--trust-remote-code"],
    ),
    Case(
        "trust-remote-code-all-and-a-model",
        "--trust-remote-code 'all,org/m': 'all' stands alone; give --trust-remote-code MODEL[,MODEL] or "
        "--trust-remote-code all",
        args=["baseline", "--study", "s", "--trust-remote-code", "all,org/m", "--storage", "{db}"],
    ),
    Case(
        "trust-remote-code-empty-name",
        "--trust-remote-code 'org/a,,org/b': an empty model name; give --trust-remote-code MODEL[,MODEL] or "
        "--trust-remote-code all",
        args=["worker", "--study", "s", "--trust-remote-code", "org/a,,org/b", "--storage", "{db}"],
    ),
    Case(
        "evaluate-remote-code-not-named",
        "study 'tiny-retrieval' asks to run model code from the Hub (trust_remote_code: true) for {model}, which "
        "--trust-remote-code does not name; if you trust it, run again with --trust-remote-code org/m,{model}",
        _config(trust_remote_code=True),
        args=["evaluate", "{model}", "--config", "{dir}/study.yaml", "--trust-remote-code", "org/m"],
    ),
]

STORAGE = [
    Case(
        "storage-scheme",
        f"storage URL 'mongodb://u:***@h/db': unsupported scheme 'mongodb' {SCHEME_HELP}",
        args=["studies", "--storage", "mongodb://u:pw@h/db"],
    ),
    Case(
        "storage-no-scheme",
        f"storage URL 'hpo.db': unsupported scheme '' {SCHEME_HELP}",
        args=["studies", "--storage", "hpo.db"],
    ),
    Case(
        "storage-in-memory",
        "storage URL 'sqlite:///' is an in-memory database that vanishes when the command ends; give a file: "
        "sqlite:///hpo.db",
        _config(),
        args=["create-study", "--config", "{dir}/study.yaml", "--storage", "sqlite:///"],
    ),
    Case(
        "storage-grpc-no-port",
        "storage URL 'grpc://proxy': give the proxy as grpc://HOST:PORT",
        args=["studies", "--storage", "grpc://proxy"],
    ),
    Case(
        "storage-bad-port",
        "storage URL 'postgresql://u:***@db:port/x' cannot be parsed: invalid literal for int() with base 10: 'port' "
        f"{SCHEME_HELP}",
        args=["studies", "--storage", "postgresql://u:secret@db:port/x"],
    ),
    Case(
        "status-storage-file-missing",
        "storage file {dir}/study.db does not exist; create a study there first (hpo create-study --config FILE --storage {db})",
        args=["status", "--study", "nope", "--storage", "{db}"],
    ),
    Case(
        "modal-sqlite",
        "storage URL '{db}' is a local SQLite file that a cloud container cannot reach; use a Postgres URL reachable "
        "from the internet (managed, or tunnelled)",
        args=["modal", "--study", "s", "--storage", "{db}"],
    ),
    Case(
        "modal-private-host",
        "storage host '10.0.0.5' in 'postgresql://u:***@10.0.0.5/db' is an address of a private network (10.0.0.0/8), "
        "which a cloud container cannot reach; use a Postgres reachable from the internet (managed, or tunnelled)",
        args=["modal", "--study", "s", "--storage", "postgresql://u:pw@10.0.0.5/db"],
    ),
]

CASES = CONFIG_FILE + CONFIG_VALUES + DATA_FILES + CLI + STORAGE


# Issue 24, class 4 (everything a trial would fail on is refused by create-study) and class 5
# (numbers are numbers: finite and of their type, in the config, the data and the CLI).
_HELD_OUT = [{"query": f"train question {i}?", "positive": f"answer {i}", "qid": f"t{i}"} for i in range(40)]
_SCORES = [{"text1": f"q{i}", "text2": f"p{i}", "score": i / 40} for i in range(40)]


def _similarity(**data: Any) -> dict[str, Any]:
    config = _pairs_config(objective="similarity")
    config["data"].update(data)
    return config


CREATE_TIME = [
    Case(
        "miner-model-missing",
        "search_space.hard_negatives.miner_model: model folder '{dir}/no-miner' not found (nor is it a Hub id like "
        "'org/name')",
        _config(search_space__hard_negatives={"miner": "dense", "miner_model": "{dir}/no-miner"}),
    ),
    Case(
        "miner-model-not-cached",
        "search_space.hard_negatives.miner_model: 'org/no-miner' is not in the local Hugging Face cache and "
        "HF_HUB_OFFLINE is set (download it once with the Hub reachable, or give a local model folder)",
        _config(search_space__hard_negatives={"miner": "dense", "miner_model": "org/no-miner"}),
    ),
    Case(
        "num-negatives-past-corpus",
        "{dir}/study.yaml: search_space.hard_negatives: range_min (0) + num_negatives (345) exceeds the 344 passages "
        "a training query can draw negatives from (345 candidates less its positives); lower range_min or "
        "num_negatives, or give a larger data.corpus",
        _config(search_space__hard_negatives={"miner": "bm25", "num_negatives": 345}),
    ),
    Case(
        "range-min-past-corpus",
        "{dir}/study.yaml: search_space.hard_negatives: range_min (344) + num_negatives (1) exceeds the 344 passages "
        "a training query can draw negatives from (345 candidates less its positives); lower range_min or "
        "num_negatives, or give a larger data.corpus",
        _config(
            search_space__hard_negatives={
                "miner": {"type": "categorical", "choices": ["none", "bm25"]},
                "range_min": {"type": "int", "low": 0, "high": 344},
            }
        ),
    ),
    Case(
        "mining-every-positive-held-out",
        "{dir}/study.yaml: search_space.hard_negatives: every training pair's positive is a dev or test passage, so "
        "no negative can be mined; set miner to none or give training queries of their own passages",
        {
            **_files_config(dev={"path": "dev.jsonl"}),
            "search_space": _config()["search_space"] | {"hard_negatives": {"miner": "bm25"}},
        },
        files={"train.jsonl": _HELD_OUT, "dev.jsonl": GOOD_QUERIES},
    ),
    Case(
        "score-range-not-similarity",
        "{dir}/study.yaml: data.score_range: it rescales similarity scores, which the retrieval task has not; "
        "remove it",
        _config(data__score_range=[0, 5]),
    ),
    Case(
        "positive-label-not-pairs",
        "{dir}/study.yaml: data.positive_label: it names the label of a matching pair, which the similarity task "
        "has not; remove it",
        _similarity(positive_label="yes"),
        files={"train.jsonl": _SCORES},
    ),
]

NUMBERS = [
    Case(
        "cost-inf", "{dir}/study.yaml: cost.cpu: expected a finite number, got inf", _config(cost={"cpu": float("inf")})
    ),
    Case(
        "cost-nan", "{dir}/study.yaml: cost.cpu: expected a finite number, got nan", _config(cost={"cpu": float("nan")})
    ),
    Case("cost-bool", "{dir}/study.yaml: cost.cpu: expected a number, got true", _config(cost={"cpu": True})),
    Case("cost-text", "{dir}/study.yaml: cost.cpu: expected a number, got text '1.5'", _config(cost={"cpu": "1.5"})),
    Case(
        "timeout-nan",
        "{dir}/study.yaml: budget.timeout: expected a finite number, got nan",
        _config(budget={"n_trials": 4, "timeout": float("nan")}),
    ),
    Case(
        "max-cost-inf",
        "{dir}/study.yaml: budget.max_cost: expected a finite number, got inf",
        _config(budget={"n_trials": 4, "max_cost": float("inf")}, cost={"cpu": 1.0}),
    ),
    Case(
        "lr-high-inf",
        "{dir}/study.yaml: search_space.learning_rate.high: expected a finite number, got inf",
        _config(search_space__learning_rate={"type": "float", "low": 1e-5, "high": float("inf")}),
    ),
    Case(
        "min-gain-inf",
        "{dir}/study.yaml: significance.min_gain: expected a finite number, got inf",
        _config(significance={"min_gain": float("inf")}),
    ),
    Case(
        "every-samples-text",
        "{dir}/study.yaml: evaluation.every_samples: expected an integer, got text '32'",
        _config(evaluation={"every_samples": "32"}),
    ),
    Case(
        "score-range-bool",
        "{dir}/study.yaml: data.score_range[0]: expected a number, got true",
        _similarity(score_range=[True, 5]),
        files={"train.jsonl": _SCORES},
    ),
    Case(
        "score-text-among-numbers",
        "data.train ({dir}/train.jsonl): row 41: column 'score' (score) must be a number like the other rows, got "
        "text '0.7'",
        _similarity(),
        files={"train.jsonl": [*_SCORES, {"text1": "a", "text2": "b", "score": "0.7"}]},
    ),
    Case(
        "score-csv-one-word",
        "data.train ({dir}/train.csv): row 41: column 'score' (score) must be a number like the other rows, got "
        "text 'high'",
        _pairs_config("train.csv", objective="similarity"),
        files={"train.csv": "text1,text2,score\n" + "".join(f"q{i},p{i},{i / 40}\n" for i in range(40)) + "a,b,high\n"},
    ),
    Case(
        "label-text-among-numbers",
        "data.train ({dir}/train.jsonl): row 41: column 'label' (label) must be a number like the other rows, got "
        "text '1'",
        _pairs_config(),
        files={"train.jsonl": [*GOOD_PAIRS, {"text1": "a", "text2": "b", "label": "1"}]},
    ),
    Case(
        "max-cost-option-nan",
        "Invalid value for '--max-cost': 'nan' is not a finite number. (see 'hpo best --help')",
        args=["best", "--study", "s", "--max-cost", "nan", "--storage", "{db}"],
    ),
    Case(
        "timeout-option-nan",
        "Invalid value for '--timeout': 'nan' is not a finite number. (see 'hpo worker --help')",
        args=["worker", "--study", "s", "--timeout", "nan"],
    ),
    Case(
        "timeout-option-inf",
        "Invalid value for '--timeout': 'inf' is not a finite number. (see 'hpo worker --help')",
        args=["worker", "--study", "s", "--timeout", "inf"],
    ),
    Case(
        "price-option-nan",
        "Invalid value for '--price': 'nan' is not a finite number. (see 'hpo tune --help')",
        args=["tune", "{dir}", "--budget", "1h", "--price", "nan"],
    ),
]

CASES += CREATE_TIME + NUMBERS

# Issue 26 (hpo modal): a GPU count and time limits refused before anything is launched.
_PUBLIC_DB = "postgresql://u:pw@db.example.com/db"
CASES += [
    Case(
        "modal-gpu-count",
        "--gpu H100:2: a container runs one worker on one GPU; give 'H100' and start more containers with --containers",
        args=["modal", "--study", "s", "--storage", _PUBLIC_DB, "--gpu", "H100:2"],
    ),
    Case(
        "modal-trial-timeout-past-container",
        "--trial-timeout 86400: give more than 0 and less than --container-timeout (86400 s), so that a hung trial "
        "ends before its container does",
        args=["modal", "--study", "s", "--storage", _PUBLIC_DB, "--trial-timeout", "86400"],
    ),
    Case(
        "modal-idle-timeout",
        "--idle-timeout -5: give a number of seconds above 0",
        args=["modal", "--study", "s", "--storage", _PUBLIC_DB, "--idle-timeout", "-5"],
    ),
]

# Issue 24, class 7 (storage and files speak plainly): a name past the storage's limit, data files
# that are not UTF-8 or cut short, a port in use, a short form of a loopback address.
_BUSY = socket.socket()  # a port in use while the tests run
_BUSY.bind(("127.0.0.1", 0))
_BUSY.listen()
_BUSY_PORT = _BUSY.getsockname()[1]
_LONG_NAME = "s" * 513
_TOO_LONG = "study name is 513 characters long; the storage allows at most 512 (give a shorter study_name or --name)"
_CSV_PAIRS = "text1,text2,label\n" + "".join(f"{r['text1']},{r['text2']},{r['label']}\n" for r in GOOD_PAIRS)
CASES += [
    Case("study-name-too-long", _TOO_LONG, _config(study_name=_LONG_NAME)),
    Case(
        "name-option-too-long",
        _TOO_LONG,
        _config(),
        args=["create-study", "--config", "{dir}/study.yaml", "--name", _LONG_NAME],
    ),
    Case(
        "data-jsonl-not-utf8",
        "data.train ({dir}/train.jsonl): line 41 is not UTF-8 text (byte 0xe9 at column 15); save the file as UTF-8",
        _pairs_config(),
        files={"train.jsonl": _jsonl(GOOD_PAIRS).encode() + b'{"text1": "caf\xe9", "text2": "b", "label": 0}\n'},
    ),
    Case(
        "data-csv-not-utf8",
        "data.train ({dir}/train.csv): line 42 is not UTF-8 text (byte 0xe9 at column 4); save the file as UTF-8",
        _pairs_config("train.csv"),
        files={"train.csv": _CSV_PAIRS.encode() + b"caf\xe9,b,0\n"},
    ),
    Case(
        "data-jsonl-cut-short",
        "data.train ({dir}/train.jsonl): line 41 is not valid JSON: Unterminated string starting at column 16 "
        "(the file looks cut short)",
        _pairs_config(),
        files={"train.jsonl": _jsonl(GOOD_PAIRS) + '{"text1": "a", "te'},
    ),
    Case(
        "data-csv-cut-short",
        "data.train ({dir}/train.csv): line 42: a quoted field is never closed (the file looks cut short)",
        _pairs_config("train.csv"),
        files={"train.csv": _CSV_PAIRS + '"q40,p'},
    ),
    Case(
        "dashboard-port-in-use",
        f"port {_BUSY_PORT} on 127.0.0.1 is already in use (another dashboard or server?); choose another with --port",
        args=["dashboard", "--storage", "{db}", "--port", str(_BUSY_PORT)],
    ),
    Case(
        "modal-loopback-short-form",
        "storage host '0x7f.1' in 'postgresql://u:***@0x7f.1/db' is this machine, which a cloud container cannot "
        "reach; use a Postgres reachable from the internet (managed, or tunnelled)",
        args=["modal", "--study", "s", "--storage", "postgresql://u:pw@0x7f.1/db"],
    ),
]

# Issue 23, points 2 and 4: a test split that repeats every training row; create-study's --replace options.
_LEAKY_PAIRS = {**_pairs_config(), "data": {"train": {"path": "train.jsonl"}, "test": {"path": "test.jsonl"}}}
CASES += [
    Case(
        "data-test-repeats-every-training-row",
        "data.train ({dir}/train.jsonl): all 40 rows also occur in data.test ({dir}/test.jsonl), so none is left "
        "to train on; give a data.test without the training rows, or remove data.test to carve that split from train",
        _LEAKY_PAIRS,
        files={"train.jsonl": GOOD_PAIRS, "test.jsonl": GOOD_PAIRS},
    ),
    Case(
        "create-study-replace-and-load-if-exists",
        "--replace and --load-if-exists exclude each other: replace the study, or reuse it",
        _config(),
        args=["create-study", "--config", "{dir}/study.yaml", "--replace", "--load-if-exists"],
    ),
    Case(
        "create-study-force-without-replace",
        "--force goes with --replace: it replaces a study even while its trials run",
        _config(),
        args=["create-study", "--config", "{dir}/study.yaml", "--force"],
    ),
]


def test_matryoshka_dims_past_a_cached_models_size_are_refused(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub id in the local cache has its embedding size read there, as a model folder's is."""
    import shutil

    from huggingface_hub import constants

    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("0" * 40)
    shutil.copytree(tiny_model, snapshot)
    (tmp_path / "hub" / "models--org--tiny" / "refs").mkdir()
    (tmp_path / "hub" / "models--org--tiny" / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    config = _config(search_space__model="org/tiny", search_space__matryoshka_dims=[4096, 16])
    _write(tmp_path / "study.yaml", config, {"dir": str(tmp_path), "model": tiny_model})
    before = _files(tmp_path)
    result = invoke("create-study", "--config", str(tmp_path / "study.yaml"), "--storage", f"sqlite:///{tmp_path}/s.db")
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        f"error: {tmp_path}/study.yaml: search_space.matryoshka_dims: 4096 exceeds the embedding dimension of "
        "org/tiny (64)\n"
    )
    assert _files(tmp_path) == before


def test_confirmation_seeds_past_the_largest_seed_are_refused(tmp_path: Path, tiny_model: str) -> None:
    """The runs of hpo confirm take the study's seed + 1, + 2, ...: none may pass what numpy accepts."""
    _write(tmp_path / "study.yaml", _config(seed=2**32 - 2), {"dir": str(tmp_path), "model": tiny_model})
    db = f"sqlite:///{tmp_path}/s.db"
    assert invoke("create-study", "--config", str(tmp_path / "study.yaml"), "--storage", db).exit_code == 0
    before = {p: p.read_bytes() for p in _files(tmp_path) if p.is_file()}
    result = invoke("confirm", "--study", "tiny-retrieval", "--top-k", "1", "--seeds", "2", "--storage", db)
    assert result.exit_code == 2, result.stderr
    assert result.stderr == (
        "error: --seeds 2: the study's seed 4294967294 + 2 exceeds the largest seed 4294967295; give fewer\n"
    )
    assert {p: p.read_bytes() for p in _files(tmp_path) if p.is_file()} == before


def _fill(value: Any, fill: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.replace("{model}", fill["model"]).replace("{dir}", fill["dir"])
    if isinstance(value, dict):
        return {k: _fill(v, fill) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fill) for v in value]
    return value


def _write(path: Path, content: Any, fill: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content.replace("{model}", fill["model"]).replace("{dir}", fill["dir"]))
    elif path.suffix == ".jsonl":
        path.write_text(_jsonl(content))
    else:
        path.write_text(yaml.safe_dump(_fill(content, fill), sort_keys=False))


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


def test_the_table_covers_config_data_cli_and_storage() -> None:
    assert len(CASES) >= 80
    assert len({case.id for case in CASES}) == len(CASES)
    assert min(len(CONFIG_FILE) + len(CONFIG_VALUES), len(DATA_FILES), len(CLI), len(STORAGE)) >= 8


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(tmp_path: Path, tiny_model: str, case: Case) -> None:
    db = tmp_path / "study.db"
    fill = {"dir": str(tmp_path), "db": f"sqlite:///{db}", "model": tiny_model}
    if case.config is not None:
        _write(tmp_path / "study.yaml", case.config, fill)
    for name, content in case.files.items():
        _write(tmp_path / name, content, fill)
    argv = [a.format(**fill) for a in case.args] or ["create-study", "--config", str(tmp_path / "study.yaml")]
    if "--storage" not in argv and argv[0] in {"create-study", "worker", "studies"}:
        argv += ["--storage", fill["db"]]
    before = _files(tmp_path)
    result = invoke(*argv)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.startswith("error: " + case.message.format(**fill)), result.stderr
    assert result.stderr.count("\n") == 1  # one line
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert _files(tmp_path) == before  # nothing written: no study database, no output
