"""``hpo tune``: one command from a folder of data and a budget to a tested model."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from hpo.cli.shared import POSITIVE, trust_option
from hpo.log_setup import quiet_libraries


@click.command("tune")
@click.argument("data", type=click.Path(file_okay=False, path_type=Path))
@click.option("--budget", required=True, help="Wall time (90m, 2h, 1h30m) or money ($20, with --price).")
@click.option(
    "-o", "--output", type=click.Path(file_okay=False, path_type=Path), help="Output folder. Default: tune-DATANAME."
)
@click.option("--storage", metavar="URL", help="Study storage URL. Default: $HPO_STORAGE, else OUTPUT/study.db.")
@click.option("--workers", type=click.IntRange(min=1), help="Workers sharing this machine during the search.")
@click.option("--gpus", metavar="IDS", help="One worker per GPU during the search: '0,1' or 'all'.")
@click.option("--models", metavar="M1,M2", help="Candidate base models. Default: a short list by size.")
@click.option("--task", metavar="NAME", help="retrieval, pair-classification or similarity, if the data does not say.")
@click.option("--columns", metavar="ROLE=COL,...", help="Column of each role, e.g. text1=q1,text2=q2,label=dup.")
@click.option("--positive-label", metavar="VALUE", help="The label value that means a match (e.g. yes).")
@click.option("--price", type=POSITIVE, help="Dollars per device-hour, for a $ budget.")
@click.option("--plan-only", is_flag=True, help="Infer, probe and plan; write study.yaml and plan.json; stop.")
@trust_option
def tune_command(**options: Any) -> None:
    """Infer the task and columns of DATA, plan a study that fits the budget on this hardware, run it,
    and retrain and test the winner against zero-shot and the task's default recipe."""
    from hpo.tune.request import build_request
    from hpo.tune.run import tune

    request = build_request(**options)  # the options are named as its parameters
    quiet_libraries(training=True)
    try:
        tune(request, click.echo)
    except KeyboardInterrupt:
        click.echo(f"stopped; what is done is kept: run the same command again to resume ({request.output})", err=True)
        sys.exit(130)
