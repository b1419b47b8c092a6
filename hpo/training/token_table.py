"""Tokenized texts stored flat, so that a batch is built by slicing arrays instead of tokenizing.

A study trains every trial on the same pairs and scores it on the same queries and corpus: their
tokens are computed once (for one tokenizer and ``max_seq_length``), kept in a few flat integer
arrays, saved to the shared disk cache (:mod:`hpo.training.disk_cache`), and each batch is padded
from them with vectorized numpy. The batch equals the tokenizer's own output for the same texts:
right padding to the longest text of the batch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

FORMAT = 1  # bump when the saved layout changes: old entries are then never read
_ARRAYS = "tokens.npz"
_META = "tokens.json"
_SMALLEST = (np.int8, np.int16, np.int32, np.int64)


class TokenTable:
    """Tokenizer output of a fixed set of texts: per feature, one flat array; per text, a slice of it."""

    def __init__(
        self,
        texts: list[str],
        offsets: np.ndarray,
        features: dict[str, np.ndarray],
        dtypes: dict[str, str],
        pad_values: dict[str, int],
        extras: dict[str, Any],
    ) -> None:
        self.texts = texts
        self.offsets = offsets
        self.lengths = np.diff(offsets)
        self.features = features
        self.dtypes = dtypes
        self.pad_values = pad_values
        self.extras = extras
        self.index = {text: i for i, text in enumerate(texts)}

    def __len__(self) -> int:
        return len(self.texts)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        tokenize: Callable[[list[str]], Mapping[str, Any]],
        pad_values: Mapping[str, int],
        chunk: int = 2048,
    ) -> TokenTable | None:
        """Tokenize ``texts`` (duplicates once) in chunks; None when the output has no attention mask
        (padding cannot then be told from tokens) or carries something that is not plain JSON."""
        import torch

        unique = list(dict.fromkeys(texts))
        parts: dict[str, list[np.ndarray]] = {}
        dtypes: dict[str, str] = {}
        lengths: list[np.ndarray] = []
        extras: dict[str, Any] = {}
        for start in range(0, len(unique), chunk):
            output = tokenize(unique[start : start + chunk])
            mask = output.get("attention_mask")
            if not isinstance(mask, torch.Tensor):
                return None
            rows = mask.sum(dim=1).numpy()
            keep = np.arange(mask.shape[1])[None, :] < rows[:, None]
            lengths.append(rows)
            for name, value in output.items():
                if isinstance(value, torch.Tensor) and value.dim() == 2:
                    parts.setdefault(name, []).append(value.numpy()[keep])
                    dtypes[name] = str(value.dtype).removeprefix("torch.")
                elif _plain_json(value):
                    extras[name] = value
                else:
                    return None
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(lengths) if lengths else [])]).astype(np.int64)
        features = {name: _smallest(np.concatenate(values)) for name, values in parts.items()}
        return cls(unique, offsets, features, dtypes, {**dict(pad_values)}, extras)

    def rows(self, texts: Sequence[str]) -> list[int] | None:
        """The row of each text, or None when one of them is not in the table."""
        index = self.index
        try:
            return [index[text] for text in texts]
        except KeyError:
            return None

    def batch(self, rows: Sequence[int]) -> dict[str, Any]:
        """The features of ``rows``, right-padded to the longest: what the tokenizer returns for them."""
        import torch

        picked = np.asarray(rows, dtype=np.int64)
        lengths = self.lengths[picked]
        width = int(lengths.max()) if len(picked) else 0
        positions = np.arange(width)
        inside = positions[None, :] < lengths[:, None]
        gather = (self.offsets[picked][:, None] + positions[None, :])[inside]
        batch: dict[str, Any] = {}
        for name, flat in self.features.items():
            padded = np.full((len(picked), width), self.pad_values.get(name, 0), dtype=np.int64)
            padded[inside] = flat[gather]
            batch[name] = torch.from_numpy(padded).to(getattr(torch, self.dtypes[name]))
        batch.update(self.extras)
        return batch

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, Any] = {"offsets": self.offsets, **{f"feature_{k}": v for k, v in self.features.items()}}
        np.savez(folder / _ARRAYS, **arrays)
        meta = {
            "format": FORMAT,
            "texts": self.texts,
            "dtypes": self.dtypes,
            "pad_values": self.pad_values,
            "extras": self.extras,
        }
        (folder / _META).write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")

    @staticmethod
    def saved_in(folder: Path) -> bool:
        """Whether ``folder`` holds a saved table."""
        return (folder / _META).exists()

    @classmethod
    def load(cls, folder: Path) -> TokenTable:
        """The table saved in ``folder``; ValueError when its files do not agree with each other."""
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"{folder / _META}: token table format {_format(meta)}, expected {FORMAT}")
        with np.load(folder / _ARRAYS) as arrays:
            features = {k.removeprefix("feature_"): arrays[k] for k in arrays.files if k.startswith("feature_")}
            offsets = arrays["offsets"]
        texts, dtypes = meta["texts"], meta["dtypes"]
        _check(folder, texts, offsets, features, dtypes)
        return cls(texts, offsets, features, dtypes, meta["pad_values"], meta["extras"])


def _check(folder: Path, texts: list[str], offsets: np.ndarray, features: dict[str, np.ndarray], dtypes: Any) -> None:
    """ValueError naming what does not fit: a table whose arrays were cut would pad rows from other texts."""
    where = folder / _ARRAYS
    if offsets.shape != (len(texts) + 1,) or (len(offsets) and (offsets[0] != 0 or np.any(np.diff(offsets) < 0))):
        raise ValueError(f"{where}: offsets of shape {offsets.shape} do not index {len(texts)} texts")
    for name, flat in features.items():
        if flat.shape != (int(offsets[-1]),):
            raise ValueError(f"{where}: feature {name} holds {flat.size} tokens, the offsets say {int(offsets[-1])}")
    if not isinstance(dtypes, dict) or set(dtypes) != set(features):
        raise ValueError(f"{folder / _META}: dtypes name other features than {where} holds")


def _format(meta: Any) -> Any:
    return meta.get("format") if isinstance(meta, dict) else type(meta).__name__


def tokenizer_fingerprint(model: SentenceTransformer) -> str:
    """sha256 of what decides a model's tokens: its tokenizer's files and the first module's settings.

    The files are those the tokenizer writes with ``save_pretrained`` (its vocabulary, rules and
    special tokens), so a Hub id, a local folder and a packaged copy of the same tokenizer agree.
    """
    import tempfile

    import tokenizers
    import transformers

    digest = hashlib.sha256()
    first: Any = model[0]
    settings = first.get_config_dict() if hasattr(first, "get_config_dict") else {}
    header = {
        "module": type(first).__name__,
        "settings": settings,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        with tempfile.TemporaryDirectory(prefix="hpo-tokenizer-") as folder:
            tokenizer.save_pretrained(folder)
            for path in sorted(Path(folder).rglob("*")):
                if path.is_file():
                    digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return "sha256:" + digest.hexdigest()


def _smallest(values: np.ndarray) -> np.ndarray:
    """``values`` in the smallest integer type that holds them (ids fit int32, masks int8)."""
    if values.size == 0:
        return values.astype(np.int8)
    low, high = int(values.min()), int(values.max())
    for kind in _SMALLEST:
        info = np.iinfo(kind)
        if info.min <= low and high <= info.max:
            return values.astype(kind)
    return values


def _plain_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
