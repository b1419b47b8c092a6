"""How an entry point sets up logging: our lines to stderr, the libraries' own kept quiet.

Only entry points call these: the CLI, and a cloud container, which is an entry point of its own.
"""

from __future__ import annotations

import logging
import os
import sys

NOISY_LOGGERS = (
    "sentence_transformers",
    "transformers",
    "datasets",
    "optuna",
    "torch",
    "httpx",
    "urllib3",
    "filelock",
    "fsspec",
    "matplotlib",
)


# Read by the libraries when they are first imported: a command that never loads a model or a
# Hub dataset (a create-study that fails on its first row) does not pay seconds to import them.
QUIET_ENVIRONMENT = {
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' own bars ("Loading weights")
    "TRANSFORMERS_VERBOSITY": "error",
}


class LibraryRecords(logging.Filter):
    """Lets the libraries' records through only from WARNING up.

    Setting their loggers' levels is not enough: Optuna sets its logger to INFO when it is first
    imported, which happens after the CLI configured logging ("A new study created in RDB").
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.partition(".")[0] not in NOISY_LOGGERS


def configure_logging(level: str, debug: bool) -> None:
    """Log lines to stderr at ``level``; the libraries' own logs only with ``debug``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    if not debug:
        handler.addFilter(LibraryRecords())
    logging.basicConfig(level=level, handlers=[handler])
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def quiet_libraries(training: bool = False) -> None:
    """Route Optuna's logs through ours; silence progress bars of data and model loading.

    With ``training``, libraries imported later read :data:`QUIET_ENVIRONMENT` (a value the user
    set wins); those already imported are told directly.
    """
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    if not training:
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub import utils as hub_utils

        hub_utils.disable_progress_bars()  # type: ignore[attr-defined]
    if "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
