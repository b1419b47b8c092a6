from __future__ import annotations

from typing import Any

import pytest
import torch

from hpo.training.document_memo import DocumentMemo
from hpo.training.models import load_model


@pytest.fixture()
def model(tiny_model: str) -> Any:
    return load_model(tiny_model, "cpu", None, False)


def _count_encoded(model: Any) -> list[int]:
    """Wrap the class method so the test sees how many texts really went through the model."""
    counts: list[int] = []
    original = type(model).encode_document

    def counting(self: Any, inputs: Any, **kwargs: Any) -> Any:
        counts.append(len(inputs))
        return original(self, inputs, **kwargs)

    model.__class__ = type("Counting", (type(model),), {"encode_document": counting})
    return counts


def test_second_evaluation_encodes_only_new_passages(model: Any) -> None:
    capped = ["alpha beta", "gamma delta", "epsilon"]
    full = ["zeta", "gamma delta", "alpha beta", "eta theta", "epsilon"]
    expected = model.encode_document(full, convert_to_tensor=True)
    counts = _count_encoded(model)
    with DocumentMemo(model) as memo:
        model.encode_document(capped, convert_to_tensor=True, batch_size=2)
        memo.freeze()
        rows = model.encode_document(full, convert_to_tensor=True, batch_size=8)
        assert len(memo.rows) == 3  # frozen: the full corpus's new rows are not kept
        again = model.encode_document(full, convert_to_tensor=True)
    assert counts == [3, 2, 2]
    assert memo.reused == 6
    torch.testing.assert_close(rows, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again, rows)


def test_other_options_and_numpy_output_pass_through(model: Any) -> None:
    counts = _count_encoded(model)
    with DocumentMemo(model) as memo:
        model.encode_document(["alpha"], convert_to_tensor=True)
        model.encode_document(["alpha"], convert_to_tensor=True, normalize_embeddings=True)
        model.encode_document(["alpha"], prompt="passage: ", convert_to_tensor=True)
        as_numpy = model.encode_document(["alpha"])
    assert counts == [1, 1, 1, 1]
    assert memo.reused == 0
    assert not isinstance(as_numpy, torch.Tensor)


def test_leaving_restores_the_model_and_forgets_the_rows(model: Any) -> None:
    with DocumentMemo(model) as memo:
        model.encode_document(["alpha"], convert_to_tensor=True)
        assert "encode_document" in vars(model)
    assert "encode_document" not in vars(model)
    assert memo.rows == {}
