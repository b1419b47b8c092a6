"""How fast a model encodes: texts per second, from the encodings of its evaluations, at no extra cost.

Training never calls ``model.encode``; evaluators do. Each call's texts and seconds are recorded;
the speed is that of the fastest call (as ``timeit`` takes the fastest run: the one least slowed
down by other work on the machine), among the passage encodings when there are any (retrieval:
passages per second), else among all of them (pairs: texts per second). Texts served from a
:class:`~hpo.training.document_memo.DocumentMemo` never reach ``encode`` and are not counted.

A long encoding (a retrieval corpus on a busy CPU can take an hour) is also said as it goes: texts
done of the call's total, the speed and the time left, in a log line every ``every`` seconds, for
logs and terminals alike (live bars, where asked for, are the library's own).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hpo.progress import duration

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

MIN_TEXTS = 8  # calls with fewer texts time the call's overhead more than the model
EVERY_SECONDS = 30.0  # as training's progress lines


class EncodeProgress:
    """The progress of one ``encode`` call: batches counted as the model embeds them, a log line
    every ``every`` seconds (none for a call shorter than that)."""

    def __init__(self, total: int, what: str, every: float, clock: Callable[[], float]) -> None:
        self.total = total
        self.what = what
        self.every = every
        self.clock = clock
        self.started = self.logged = clock()
        self.done = 0

    def add(self, texts: int) -> None:
        self.done = min(self.total, self.done + texts)
        now = self.clock()
        if now - self.logged < self.every or self.done >= self.total or self.done == 0:
            return
        self.logged = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = elapsed * (self.total - self.done) / self.done
        logger.info(
            "encoding: %d of %d %s (%.1f per second), about %s left",
            self.done,
            self.total,
            self.what,
            rate,
            duration(left),
        )


def _texts_in(batch: Any) -> int:
    """The texts of one embedded batch: the rows of its embeddings (or of any tensor in it)."""
    if not isinstance(batch, Mapping):  # a dict or transformers' BatchEncoding
        return 0
    values = [batch["sentence_embedding"]] if "sentence_embedding" in batch else list(batch.values())
    for value in values:
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) >= 1:
            return int(shape[0])
    return 0


@dataclass(frozen=True)
class EncodeCall:
    texts: int
    seconds: float
    document: bool  # a passage encoding (``encode_document``)


class EncodeMeter:
    """While installed, records each ``model.encode`` call (its texts, seconds and embedding
    dimension) and logs the progress of a long one (see :class:`EncodeProgress`)."""

    def __init__(
        self, model: SentenceTransformer, every: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.model = model
        self.calls: list[EncodeCall] = []
        self.dimension: int | None = None
        self.every = EVERY_SECONDS if every is None else every
        self.clock = clock
        self._current: EncodeProgress | None = None  # the outermost encode call under way

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
            texts = 1 if isinstance(inputs, str) else len(inputs)
            output = self._encode_with_progress(original, texts, inputs, args, kwargs)
            self.calls.append(EncodeCall(texts, time.perf_counter() - started, kwargs.get("task") == "document"))
            shape = getattr(output, "shape", None)
            if shape is not None and len(shape) >= 1 and shape[-1]:
                self.dimension = int(shape[-1])
            return output

        self.model.encode = encode  # type: ignore[method-assign]

    def _encode_with_progress(
        self, original: Callable[..., Any], texts: int, inputs: Any, args: Any, kwargs: dict[str, Any]
    ) -> Any:
        """``original(inputs, ...)``, counting the batches the model embeds (the outermost call only)."""
        if self._current is not None:
            return original(inputs, *args, **kwargs)
        what = {"document": "passages", "query": "queries"}.get(str(kwargs.get("task")), "texts")
        self._current = progress = EncodeProgress(texts, what, self.every, self.clock)
        hook = self.model.register_forward_hook(lambda module, args, output: progress.add(_texts_in(output)))
        try:
            return original(inputs, *args, **kwargs)
        finally:
            hook.remove()
            self._current = None

    def remove(self) -> None:
        """Stop recording; the model's own ``encode`` shows again."""
        if "encode" in vars(self.model):
            del self.model.encode
