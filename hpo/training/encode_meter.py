"""How fast a model encodes: texts per second over the encodings of its evaluations, at no extra cost.

Training never calls ``model.encode``; evaluators do. Counting the texts each call embeds and
the seconds it takes gives the model's encoding speed on the trial's device, measured on the
evaluations a trial runs anyway, with the evaluation batch size. Texts served from a
:class:`~hpo.training.document_memo.DocumentMemo` never reach ``encode`` and are not counted.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


class EncodeMeter:
    """While entered, counts the texts ``model.encode`` embeds, the seconds it takes, and their dimension."""

    def __init__(self, model: SentenceTransformer) -> None:
        self.model = model
        self.texts = 0
        self.seconds = 0.0
        self.dimension: int | None = None

    @property
    def texts_per_second(self) -> float | None:
        return self.texts / self.seconds if self.texts and self.seconds > 0 else None

    def __enter__(self) -> EncodeMeter:
        self.install()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.remove()

    def install(self) -> None:
        """Count the model's encodings from now on."""
        original = self.model.encode

        def encode(inputs: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            output = original(inputs, *args, **kwargs)
            self.seconds += time.perf_counter() - started
            self.texts += 1 if isinstance(inputs, str) else len(inputs)
            shape = getattr(output, "shape", None)
            if shape is not None and len(shape) >= 1 and shape[-1]:
                self.dimension = int(shape[-1])
            return output

        self.model.encode = encode  # type: ignore[method-assign]

    def remove(self) -> None:
        """Stop counting; the model's own ``encode`` shows again."""
        if "encode" in vars(self.model):
            del self.model.encode
