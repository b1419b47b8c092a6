"""How fast a model encodes: texts per second, from the encodings of its evaluations, at no extra cost.

Training never calls ``model.encode``; evaluators do. Each call's texts and seconds are recorded;
the speed is that of the fastest call (as ``timeit`` takes the fastest run: the one least slowed
down by other work on the machine), among the passage encodings when there are any (retrieval:
passages per second), else among all of them (pairs: texts per second). Texts served from a
:class:`~hpo.training.document_memo.DocumentMemo` never reach ``encode`` and are not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

MIN_TEXTS = 8  # calls with fewer texts time the call's overhead more than the model


@dataclass(frozen=True)
class EncodeCall:
    texts: int
    seconds: float
    document: bool  # a passage encoding (``encode_document``)


class EncodeMeter:
    """While installed, records each ``model.encode`` call: its texts, seconds and embedding dimension."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.calls: list[EncodeCall] = []
        self.dimension: int | None = None

    @property
    def texts_per_second(self) -> float | None:
        """The speed of the fastest call (of passage encodings, when any); None without a call to time."""
        timed = [c for c in self.calls if c.texts >= MIN_TEXTS and c.seconds > 0]
        passages = [c for c in timed if c.document]
        return max((c.texts / c.seconds for c in passages or timed), default=None)

    def __enter__(self) -> EncodeMeter:
        self.install()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.remove()

    def install(self) -> None:
        """Record the model's encodings from now on."""
        original = self.model.encode

        def encode(inputs: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            output = original(inputs, *args, **kwargs)
            texts = 1 if isinstance(inputs, str) else len(inputs)
            self.calls.append(EncodeCall(texts, time.perf_counter() - started, kwargs.get("task") == "document"))
            shape = getattr(output, "shape", None)
            if shape is not None and len(shape) >= 1 and shape[-1]:
                self.dimension = int(shape[-1])
            return output

        self.model.encode = encode  # type: ignore[method-assign]

    def remove(self) -> None:
        """Stop recording; the model's own ``encode`` shows again."""
        if "encode" in vars(self.model):
            del self.model.encode
