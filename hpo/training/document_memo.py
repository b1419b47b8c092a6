"""Reuse a frozen model's document embeddings between two evaluations of the same state.

After training, a trial is scored on the capped corpus (for the pruner) and then, unless pruned,
on the full corpus, which contains every capped passage: the full evaluation needs to encode
only the passages the capped one did not.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

_SPEED_ONLY = frozenset({"batch_size", "show_progress_bar"})


class DocumentMemo:
    """While entered, ``model.encode_document`` encodes each text once and returns remembered rows.

    Only valid while the weights do not change: enter it after training ends. Calls that ask for
    anything but a tensor of plain texts (a prompt, truncation, numpy output) pass through. After
    :meth:`freeze`, rows are still served but no new ones are kept, so a large full corpus is not
    held in memory beyond what its evaluator itself holds.
    """

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.rows: dict[tuple[str, str], torch.Tensor] = {}
        self.reused = 0
        self.frozen = False

    def freeze(self) -> None:
        self.frozen = True

    def __enter__(self) -> DocumentMemo:
        original = self.model.encode_document

        def encode_document(inputs: Any, **kwargs: Any) -> Any:
            texts = isinstance(inputs, Sequence) and not isinstance(inputs, str)
            plain = texts and all(isinstance(x, str) for x in inputs)
            simple = kwargs.get("convert_to_tensor") and not any(
                kwargs.get(k) for k in ("prompt", "prompt_name", "truncate_dim", "convert_to_numpy")
            )
            if not (plain and simple and inputs):
                return original(inputs, **kwargs)
            # Rows encoded with other options (normalization, precision) are not the same rows.
            options = repr(sorted((k, v) for k, v in kwargs.items() if k not in _SPEED_ONLY))
            return self._encode([(t, options) for t in inputs], lambda texts: original(texts, **kwargs))

        self.model.encode_document = encode_document  # type: ignore[method-assign,assignment]
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        del self.model.encode_document  # the instance attribute: the class's method shows again
        self.rows.clear()

    def _encode(self, keys: list[tuple[str, str]], encode: Any) -> torch.Tensor:
        import torch

        missing = list(dict.fromkeys(k for k in keys if k not in self.rows))
        self.reused += len(keys) - len(missing)
        new = dict(zip(missing, encode([text for text, _ in missing]), strict=True)) if missing else {}
        if not self.frozen:
            self.rows.update(new)
        return torch.stack([self.rows[k] if k in self.rows else new[k] for k in keys])
