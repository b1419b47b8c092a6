"""What every hpo command shares: the one-line error handling, logging set-up, and the common options.

An :class:`~hpo.errors.HpoError` becomes one line on stderr and its exit code (2 for bad input);
``--debug`` shows the traceback instead. Heavy libraries are imported inside functions, so
``hpo --help`` stays fast.
"""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from hpo.errors import HpoError
from hpo.log_setup import quiet_libraries

if TYPE_CHECKING:
    from hpo.settings.remote_code import RemoteCodeConsent
    from hpo.store.storage import Storage, StorageUrl
    from hpo.store.study import StoredStudy


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


def _remote_code_consent(ctx: click.Context, param: click.Parameter, value: str | None) -> RemoteCodeConsent:
    from hpo.settings.remote_code import FORM, RemoteCodeConsent

    if value == _BARE:
        raise OneLineError(f"--trust-remote-code needs the models you trust: {FORM}")
    from_env = ctx.get_parameter_source(param.name or "") == click.core.ParameterSource.ENVIRONMENT
    try:
        return RemoteCodeConsent.parse(value, "$HPO_TRUST_REMOTE_CODE" if from_env else "--trust-remote-code")
    except HpoError as exc:
        raise OneLineError(str(exc)) from None


_BARE = "\0bare"  # what click passes for --trust-remote-code given without a value
trust_option = click.option(
    "--trust-remote-code",
    metavar="MODEL[,MODEL]|all",
    is_flag=False,
    flag_value=_BARE,
    envvar="HPO_TRUST_REMOTE_CODE",
    callback=_remote_code_consent,
    help="Allow model code from the Hub for these models (as the config names them), or 'all', when the config "
    "asks for it; a worker names each model before it runs its code ($HPO_TRUST_REMOTE_CODE).",
)
progress_option = click.option(
    "--progress",
    type=click.Choice(["auto", "bars", "log"]),
    default="auto",
    show_default=True,
    help="Encoding progress bars with an ETA, plain log lines, or bars only on a terminal.",
)


class FiniteFloat(click.FloatRange):
    """A float option that must be a finite number within the range: click's FloatRange lets nan and inf through."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


POSITIVE = FiniteFloat(min=0, min_open=True)  # seconds, dollars, cores: above 0
NON_NEGATIVE = FiniteFloat(min=0)
