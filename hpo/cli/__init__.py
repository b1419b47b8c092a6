"""The ``hpo`` command line: parse arguments, configure output, call the library, print results.

Results go to stdout, logs to stderr. The commands live by area (tune_command, study_commands,
run_commands, server_commands, cloud_commands); shared holds the common options and turns errors into one line.
Heavy libraries are imported inside the commands, so ``hpo --help`` stays fast.
"""

from __future__ import annotations

import click

from hpo import __version__
from hpo.cli.cloud_commands import modal_command
from hpo.cli.run_commands import baseline_command, evaluate_command, train_command, worker_command
from hpo.cli.server_commands import dashboard_command, storage_proxy_command
from hpo.cli.shared import HpoGroup
from hpo.cli.study_commands import (
    best_command,
    confirm_command,
    create_study_command,
    delete_study_command,
    report_command,
    status_command,
    studies_command,
)
from hpo.cli.tune_command import tune_command
from hpo.log_setup import configure_logging

__all__ = ["cli", "main"]


@click.group(
    cls=HpoGroup,
    commands=[
        tune_command,
        create_study_command,
        delete_study_command,
        studies_command,
        status_command,
        best_command,
        confirm_command,
        report_command,
        worker_command,
        baseline_command,
        train_command,
        evaluate_command,
        dashboard_command,
        storage_proxy_command,
        modal_command,
    ],
)
@click.version_option(__version__, prog_name="hpo")
@click.option(
    "--log-level",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="INFO",
    show_default=True,
    help="Level of the log lines written to stderr.",
)
@click.option("--quiet", is_flag=True, help="Only warnings, errors and results; no progress display.")
@click.option("--debug", is_flag=True, help="Show tracebacks and library logs.")
@click.pass_context
def cli(ctx: click.Context, log_level: str, quiet: bool, debug: bool) -> None:
    """Hyperparameter search for fine-tuning sentence-transformers models, on a shared Optuna study."""
    ctx.meta["hpo_debug"] = debug
    ctx.meta["hpo_quiet"] = quiet
    # What --gpus/--workers children are started with, so they log like their parent.
    ctx.meta["hpo_args"] = [
        "--log-level",
        log_level.upper(),
        *(["--quiet"] if quiet else []),
        *(["--debug"] if debug else []),
    ]
    configure_logging("WARNING" if quiet else log_level.upper(), debug)


def main() -> None:
    """The ``hpo`` console script."""
    cli(prog_name="hpo")
