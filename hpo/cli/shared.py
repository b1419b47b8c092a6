"""What every hpo command shares: the one-line error handling, logging set-up, and the common options.

An :class:`~hpo.errors.HpoError` becomes one line on stderr and its exit code (2 for bad input);
``--debug`` shows the traceback instead. Heavy libraries are imported inside functions, so
``hpo --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from hpo.errors import HpoError

if TYPE_CHECKING:
    from hpo.store.storage import Storage, StorageUrl
    from hpo.store.study import StoredStudy

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


class OneLineError(click.ClickException):
    """A command-line mistake, shown as one line (click's own form spans several)."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _one_line(exc: click.UsageError) -> OneLineError:
    where = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    return OneLineError(exc.format_message().replace("\n", " ") + where)


class HpoGroup(click.Group):
    """Turns HpoError and usage mistakes into one line and an exit code."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from None
        except HpoError as exc:
            if ctx.meta.get("hpo_debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # a bug: still one line (no secret in it), the traceback with --debug
            if ctx.meta.get("hpo_debug"):
                raise
            from hpo.store.storage import redact_urls

            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(
                f"error: internal error, {type(exc).__name__}: {redact_urls(first)} (--debug shows where)", err=True
            )
            ctx.exit(1)


def configure_logging(level: str, debug: bool) -> None:
    """Log lines to stderr at ``level``; the libraries' own logs only with ``debug``."""
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def quiet_libraries(training: bool = False) -> None:
    """Route Optuna's logs through ours; silence progress bars of data and model loading."""
    import optuna

    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    if training:
        import datasets
        from transformers.utils import logging as transformers_logging

        datasets.disable_progress_bars()
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        transformers_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def storage_url(cli_value: str | None) -> StorageUrl:
    """The storage URL from --storage, else $HPO_STORAGE, else the embedded default."""
    from hpo.store.storage import StorageUrl

    return StorageUrl.resolve(cli_value, os.environ)


def open_storage_from(cli_value: str | None) -> Storage:
    """The storage that --storage (or its default) names, opened."""
    from hpo.store.storage import open_storage

    return open_storage(storage_url(cli_value))


def open_study(storage: str | None, study_name: str, training: bool = False) -> StoredStudy:
    """The prologue of a command on one study: quiet the libraries, open the storage, load the study."""
    from hpo.store.study import load_stored_study

    quiet_libraries(training)
    return load_stored_study(open_storage_from(storage), study_name)


def show_bars(ctx: click.Context, progress: str) -> bool:
    """Whether --progress asks for live bars: 'bars', or 'auto' on a terminal unless --quiet."""
    return progress == "bars" or (progress == "auto" and sys.stderr.isatty() and not ctx.meta["hpo_quiet"])


storage_option = click.option(
    "--storage",
    metavar="URL",
    help="Study storage URL. Default: $HPO_STORAGE, else sqlite:///hpo.db.",
)
study_option = click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")
trust_option = click.option(
    "--trust-remote-code",
    is_flag=True,
    envvar="HPO_TRUST_REMOTE_CODE",
    help="Allow model code from the Hub when the study's config asks for it ($HPO_TRUST_REMOTE_CODE=1).",
)
progress_option = click.option(
    "--progress",
    type=click.Choice(["auto", "bars", "log"]),
    default="auto",
    show_default=True,
    help="Encoding progress bars with an ETA, plain log lines, or bars only on a terminal.",
)
