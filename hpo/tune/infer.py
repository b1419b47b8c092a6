"""What a folder of data files is: which task it trains, and which column plays which role.

``hpo tune DATA`` reads the files the way ``data.*.path`` does, looks at their columns and values,
and infers the task: a corpus file, or query and passage columns, make a retrieval set; two texts
and a two-valued label make pair classification; two texts and a graded score make similarity
(rescaled to [0, 1] from the observed range). Anything it cannot decide alone is a one-line error
naming the candidates and the flag that settles it (``--task``, ``--columns``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo.errors import UsageError
from hpo.settings.config import FILE_FORMATS, DataSource

SPLITS = {"train": ("train",), "dev": ("dev", "validation", "valid", "val"), "test": ("test",)}
CORPUS_NAMES = ("corpus", "passages", "documents", "collection")
ID_NAMES = ("id", "_id", "query_id", "qid", "pair_id", "idx", "doc_id", "docid", "pid", "passage_id", "corpus_id")
QUERY_NAMES = ("query", "question", "anchor", "queries", "q")
PASSAGE_NAMES = ("positive", "passage", "pos", "document", "context", "answer_passage")
CORPUS_TEXT_NAMES = ("text", "passage", "content", "contents", "document", "body")
PAIR_NAMES = (("text1", "text2"), ("sentence1", "sentence2"), ("question1", "question2"), ("premise", "hypothesis"))
LABEL_NAMES = ("label", "labels", "is_duplicate", "duplicate", "match", "target")
SCORE_NAMES = ("score", "similarity", "sim", "relatedness", "gold", "gold_score")
Row = dict[str, Any]


@dataclass(frozen=True)
class Inferred:
    """The task, the column of each role, and how the files become a study's ``data`` section."""

    task: str
    columns: dict[str, str]
    files: dict[str, DataSource]  # split (and "corpus") -> where its rows come from
    corpus_columns: tuple[str, str] | None = None  # corpus id and text columns
    score_range: tuple[float, float] | None = None  # similarity scores rescaled from this range
    positive_label: str | int | bool | None = None  # the label value that means "match"
    notes: list[str] = field(default_factory=list)  # what was decided and why, for the table

    def data_section(self) -> dict[str, Any]:
        """The study config's ``data`` mapping (paths absolute, so the file runs from anywhere)."""
        data: dict[str, Any] = {
            split: source.model_dump(exclude_none=True) for split, source in self.files.items() if split in SPLITS
        }
        if "corpus" in self.files and self.corpus_columns is not None:
            id_column, text_column = self.corpus_columns
            corpus = self.files["corpus"].model_dump(exclude_none=True)
            data["corpus"] = {**corpus, "id_column": id_column, "text_column": text_column}
        data["columns"] = dict(self.columns)
        if self.score_range is not None:
            data["score_range"] = list(self.score_range)
        if self.positive_label is not None:
            data["positive_label"] = self.positive_label
        return data

    def table(self) -> list[tuple[str, str]]:
        """Rows of the short table ``hpo tune`` prints: what was inferred."""
        rows = [("task", self.task)]
        rows += [(split, source.describe()) for split, source in self.files.items()]
        rows += [(f"column {role}", column) for role, column in self.columns.items()]
        if self.corpus_columns is not None:
            rows.append(("corpus columns", f"id={self.corpus_columns[0]}, text={self.corpus_columns[1]}"))
        return rows + [("note", note) for note in self.notes]


def find_files(folder: Path) -> dict[str, Path]:
    """The train/dev/test (and corpus) files of ``folder``, by their names."""
    if not folder.is_dir():
        raise UsageError(f"DATA {folder}: not a folder (give a folder of train/dev/test files)")
    found: dict[str, Path] = {}
    names = {**SPLITS, "corpus": CORPUS_NAMES}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in FILE_FORMATS or not path.is_file():
            continue
        for role, stems in names.items():
            if path.stem.lower() in stems:
                if role in found:
                    raise UsageError(f"DATA {folder}: two {role} files ({found[role].name}, {path.name}); keep one")
                found[role] = path.resolve()  # the study file may be run from anywhere
    if "train" not in found:
        formats = "/".join(sorted(FILE_FORMATS))
        raise UsageError(f"DATA {folder}: no train file (expected train.{{{formats.replace('.', '')}}})")
    return found


def infer(
    files: Mapping[str, DataSource],
    rows: Mapping[str, Sequence[Row]],
    task: str | None = None,
    columns: Mapping[str, str] | None = None,
    positive_label: str | None = None,
) -> Inferred:
    """Infer the task and columns from each file's rows; ``task``, ``columns`` and
    ``positive_label`` (the label value that means a match) override."""
    given = dict(columns or {})
    train = rows["train"]
    known = _column_names(train)
    for role, column in given.items():
        if column not in known:
            raise UsageError(f"--columns {role}={column}: no column '{column}' in train (columns: {', '.join(known)})")
    chosen = task or _guess_task(files, train, given)
    if chosen == "retrieval":
        return _retrieval(files, rows, given)
    if chosen in ("pair-classification", "similarity"):
        return _pairs(chosen, files, train, given, positive_label)
    raise UsageError(f"--task {chosen}: unknown task (use retrieval, pair-classification or similarity)")


def _guess_task(files: Mapping[str, DataSource], train: Sequence[Row], given: Mapping[str, str]) -> str:
    if "corpus" in files or "query" in given or _named(_column_names(train), QUERY_NAMES):
        return "retrieval"
    if "label" in given:
        return "pair-classification"
    if "score" in given:
        return "similarity"
    numeric = _numeric_columns(train)
    if not numeric:
        if any(_two_valued(train, c) for c in _column_names(train)):
            return "pair-classification"  # a label such as yes/no or true/false
        texts = _text_columns(train)
        if len(texts) == 2:
            return "retrieval"  # two texts and no gold value: query and relevant passage
        raise UsageError(
            f"cannot tell the task: no label or score column among {', '.join(_column_names(train))} "
            "(settle it with --task and --columns)"
        )
    label = _pick(numeric, LABEL_NAMES + SCORE_NAMES, "label or score", "--columns label=COLUMN or score=COLUMN")
    values = {_as_key(row.get(label)) for row in train}
    return "pair-classification" if len(values - {None}) <= 2 else "similarity"


def _retrieval(
    files: Mapping[str, DataSource], rows: Mapping[str, Sequence[Row]], given: Mapping[str, str]
) -> Inferred:
    train = rows["train"]
    names = _column_names(train)
    texts = _text_columns(train)
    query = given.get("query") or _pick(texts, QUERY_NAMES, "query", "--columns query=COLUMN")
    columns = {"query": query}
    notes: list[str] = []
    corpus_columns = None
    if "corpus" in files:
        corpus_columns = _corpus_columns(rows["corpus"])
        ids = {str(row.get(corpus_columns[0])) for row in rows["corpus"]}
        lists = [c for c in names if c != query and all(isinstance(r.get(c), list) for r in train[:50])]
        relevant = given.get("relevant_ids") or _pick_relevant(lists, train, ids)
        if relevant is not None:
            columns["relevant_ids"] = relevant
    if "relevant_ids" not in columns or "positive" in given:
        others = [c for c in texts if c != query]
        columns["positive"] = given.get("positive") or _pick(
            others, PASSAGE_NAMES, "passage", "--columns positive=COLUMN"
        )
    query_id = given.get("query_id") or next((c for c in ("query_id", "qid", "id", "_id") if c in names), None)
    if query_id is not None and _unique(train, query_id):
        columns["query_id"] = query_id
    if "corpus" not in files:
        notes.append("no corpus file: the passages of the data are the corpus")
    return Inferred("retrieval", columns, dict(files), corpus_columns, notes=notes)


def _pairs(
    task: str, files: Mapping[str, DataSource], train: Sequence[Row], given: Mapping[str, str], positive: str | None
) -> Inferred:
    role = "label" if task == "pair-classification" else "score"
    texts = _text_columns(train)
    named = next((pair for pair in PAIR_NAMES if set(pair) <= set(texts)), None)
    if "text1" in given and "text2" in given:
        text1, text2 = given["text1"], given["text2"]
    elif named is not None:
        text1, text2 = named
    elif len(texts) == 2:
        text1, text2 = texts
    else:
        raise UsageError(
            f"cannot tell the two text columns among {', '.join(texts) or 'none'} "
            "(settle it with --columns text1=COLUMN,text2=COLUMN)"
        )
    candidates = (
        _numeric_columns(train) if role == "score" else [c for c in _column_names(train) if _two_valued(train, c)]
    )
    names = SCORE_NAMES if role == "score" else LABEL_NAMES
    gold = given.get(role) or _pick(
        [c for c in candidates if c not in (text1, text2)], names, role, f"--columns {role}=COLUMN"
    )
    inferred = Inferred(task, {"text1": text1, "text2": text2, role: gold}, dict(files))
    if role == "score":
        return _with_score_range(inferred, train, gold)
    return _with_positive_label(inferred, train, gold, positive)


def _with_score_range(inferred: Inferred, train: Sequence[Row], column: str) -> Inferred:
    values = [float(row[column]) for row in train if _is_number(row.get(column))]
    low, high = min(values), max(values)
    if low >= 0.0 and high <= 1.0:
        return inferred
    # Common scales snap to their nominal ends (STS 0-5, SICK 1-5); others use what was observed.
    scales = sorted(((0.0, 5.0), (1.0, 5.0), (0.0, 10.0), (0.0, 100.0)), key=lambda s: s[1] - s[0])
    nominal = next(((a, b) for a, b in scales if a <= low and high <= b), None)
    score_range = nominal or (low, high)
    note = f"scores in [{low:g}, {high:g}] rescaled to [0, 1] from [{score_range[0]:g}, {score_range[1]:g}]"
    return Inferred(**{**inferred.__dict__, "score_range": score_range, "notes": [*inferred.notes, note]})


def _with_positive_label(inferred: Inferred, train: Sequence[Row], column: str, given: str | None) -> Inferred:
    values = {_as_key(row.get(column)) for row in train} - {None}
    if values <= {0, 1} and given is None:
        return inferred
    if given is not None and _as_key(given) not in values:
        listing = ", ".join(sorted(str(v) for v in values))
        raise UsageError(f"--positive-label {given}: not a value of column '{column}' ({listing})")
    matches = ("yes", "true", "1", "duplicate", "match", "positive")
    positive = _as_key(given) if given is not None else next((v for v in values if str(v) in matches), None)
    if positive is None:
        listing = ", ".join(sorted(str(v) for v in values))
        raise UsageError(f"column '{column}' holds {listing}: say which means a match (--positive-label VALUE)")
    note = f"label '{positive}' read as 1 (a match), the other value as 0"
    return Inferred(**{**inferred.__dict__, "positive_label": positive, "notes": [*inferred.notes, note]})


def _corpus_columns(corpus: Sequence[Row]) -> tuple[str, str]:
    names = _column_names(corpus)
    id_column = _pick([c for c in names if c in ID_NAMES], ID_NAMES, "corpus id", "--corpus-columns ID,TEXT")
    text_column = _pick(_text_columns(corpus), CORPUS_TEXT_NAMES, "corpus text", "--corpus-columns ID,TEXT")
    return id_column, text_column


def _pick_relevant(lists: list[str], train: Sequence[Row], ids: set[str]) -> str | None:
    """The list column whose values are corpus ids (most of them)."""
    for column in lists:
        values = [str(v) for row in train[:200] for v in row.get(column) or []]
        if values and sum(v in ids for v in values) >= 0.9 * len(values):
            return column
    return None


def _pick(candidates: Sequence[str], preferred: Sequence[str], what: str, flag: str) -> str:
    """The one candidate, or the first by ``preferred`` names; else a one-line error naming them."""
    named = _named(list(candidates), preferred)
    if named is not None:
        return named
    if len(candidates) == 1:
        return candidates[0]
    listing = ", ".join(candidates) if candidates else "none"
    raise UsageError(f"cannot tell the {what} column (candidates: {listing}); settle it with {flag}")


def _named(columns: Sequence[str], preferred: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in columns}
    return next((lowered[name] for name in preferred if name in lowered), None)


def _column_names(rows: Sequence[Row]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows[:100]:
        names.update(dict.fromkeys(row))
    return list(names)


def _text_columns(rows: Sequence[Row]) -> list[str]:
    """Columns of free text: strings, not ids, and not a handful of repeated categories."""
    sample = rows[:500]
    texts = []
    for column in _column_names(rows):
        values = [row.get(column) for row in sample]
        strings = [v for v in values if isinstance(v, str)]
        if column.lower() in ID_NAMES or len(strings) < 0.9 * len(values) or not strings:
            continue
        if len(set(strings)) > max(10, len(strings) // 5):
            texts.append(column)
    return texts


def _numeric_columns(rows: Sequence[Row]) -> list[str]:
    sample = rows[:500]
    return [
        c
        for c in _column_names(rows)
        if c.lower() not in ID_NAMES and all(_is_number(row.get(c)) or isinstance(row.get(c), bool) for row in sample)
    ]


def _two_valued(rows: Sequence[Row], column: str) -> bool:
    if column.lower() in ID_NAMES:
        return False
    values = {_as_key(row.get(column)) for row in rows[:2000]} - {None}
    return len(values) == 2


def _unique(rows: Sequence[Row], column: str) -> bool:
    values = [row.get(column) for row in rows]
    return None not in values and len({str(v) for v in values}) == len(values)


def _as_key(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return value.strip().lower()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
