from __future__ import annotations

import itertools
import logging

import pytest

from hpo.progress import duration
from hpo.training.document_memo import DocumentMemo
from hpo.training.encode_meter import EncodeMeter


def test_the_meter_times_real_encodings_and_prefers_passages(tiny_model: str) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model, device="cpu")
    passages = [f"passage number {i} about topic {i % 7}" for i in range(40)]
    with EncodeMeter(model) as meter, DocumentMemo(model):
        model.encode_query([f"question {i}" for i in range(20)])
        model.encode_document(passages, convert_to_tensor=True)
        model.encode_document(passages, convert_to_tensor=True)  # served by the memo: never encoded again
        model.encode_query(["short"])
    assert [(c.texts, c.document) for c in meter.calls] == [(20, False), (40, True), (1, False)]
    document = meter.calls[1]
    assert meter.texts_per_second == document.texts / document.seconds
    assert meter.dimension == 64
    assert "encode" not in vars(model)  # the model's own method again


def test_a_long_encoding_logs_texts_done_of_its_total_and_the_time_left(
    tiny_model: str, caplog: pytest.LogCaptureFixture
) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(tiny_model, device="cpu")
    ticks = itertools.count(0, 10)  # each batch takes 10 s on this clock
    passages = [f"passage number {i} about topic {i % 7}" for i in range(40)]
    with (
        caplog.at_level(logging.INFO, logger="hpo.training.encode_meter"),
        EncodeMeter(model, every=30, clock=lambda: float(next(ticks))),
    ):
        model.encode_document(passages, batch_size=8)  # 5 batches: 50 s
        model.encode_query(["a short call", "says nothing"], batch_size=8)
    assert caplog.messages == ["encoding: 24 of 40 passages (0.8 per second), about 20 s left"]


def test_time_left_reads_in_seconds_minutes_or_hours() -> None:
    assert [duration(s) for s in (4.2, 99, 100, 3000, 5990, 6000, 3 * 3600 + 65)] == [
        "4 s",
        "99 s",
        "2 min",
        "50 min",
        "1 h 40 min",
        "1 h 40 min",
        "3 h 01 min",
    ]
