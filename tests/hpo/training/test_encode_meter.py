from __future__ import annotations

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
