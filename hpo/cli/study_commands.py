"""The commands on a study's definition and results: create-study, delete-study, studies, status, best,
confirm, report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from hpo.cli.shared import (
    NON_NEGATIVE,
    POSITIVE,
    open_storage_from,
    open_study,
    storage_option,
    storage_url,
    study_option,
)
from hpo.log_setup import quiet_libraries


@click.command("create-study")
@click.option("--config", "config_path", required=True, metavar="FILE", help="YAML study config.")
@storage_option
@click.option("--name", metavar="NAME", help="Study name, instead of the config's study_name.")
@click.option("--load-if-exists", is_flag=True, help="Reuse an existing study with an identical config.")
@click.option(
    "--replace", is_flag=True, help="Delete a study of the same name (its trials and queue) and create it again."
)
@click.option("--force", is_flag=True, help="With --replace: replace it even while workers hold RUNNING trials.")
def create_study_command(
    config_path: str, storage: str | None, name: str | None, load_if_exists: bool, replace: bool, force: bool
) -> None:
    """Validate a config and its data, create the study, and print its name."""
    from hpo.errors import UsageError
    from hpo.results.new_study import create_study_from_file

    if replace and load_if_exists:
        raise UsageError("--replace and --load-if-exists exclude each other: replace the study, or reuse it")
    if force and not replace:
        raise UsageError("--force goes with --replace: it replaces a study even while its trials run")
    url = storage_url(storage)
    quiet_libraries(training=True)
    click.echo(create_study_from_file(config_path, url, name, load_if_exists, replace, force))


@click.command("delete-study")
@study_option
@storage_option
@click.option("--force", is_flag=True, help="Delete it even while workers hold RUNNING trials (they then fail).")
def delete_study_command(study_name: str, storage: str | None, force: bool) -> None:
    """Delete a study with its queued budget and every trial's record."""
    from hpo.store.removal import delete_study

    quiet_libraries()
    click.echo(delete_study(open_storage_from(storage), study_name, force).describe())


@click.command("studies")
@storage_option
def studies_command(storage: str | None) -> None:
    """List the studies in the storage with their trial counts and best value."""
    from hpo.views.summary import format_studies, list_studies

    quiet_libraries()
    click.echo(format_studies(list_studies(open_storage_from(storage))))


@click.command("status")
@study_option
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status_command(study_name: str, storage: str | None, as_json: bool) -> None:
    """Trials by state, the best trial so far, and running trials with their age."""
    from hpo.views.summary import format_status, study_status

    status = study_status(open_study(storage, study_name))
    click.echo(json.dumps(status, indent=2) if as_json else format_status(status))


@click.command("best")
@study_option
@storage_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the YAML here.")
@click.option("--force", is_flag=True, help="Replace an existing file that is not an export of this study.")
@click.option("--confirmed", is_flag=True, help="Export the winner of hpo confirm (best mean over seeds).")
@click.option("--pareto", is_flag=True, help="List the quality-vs-cost fronts instead of exporting.")
@click.option("--max-cost", type=NON_NEGATIVE, metavar="DOLLARS", help="Export the best trial that cost at most this.")
@click.option(
    "--max-latency",
    type=POSITIVE,
    metavar="MS",
    help="Export the best trial whose model encodes a text in at most this many milliseconds.",
)
def best_command(
    study_name: str,
    storage: str | None,
    output: Path | None,
    force: bool,
    confirmed: bool,
    pareto: bool,
    max_cost: float | None,
    max_latency: float | None,
) -> None:
    """Export the best trial as YAML: params, resolved training config, metric, provenance, verdicts."""
    from hpo.errors import UsageError
    from hpo.results.export import write_yaml
    from hpo.results.selection import export_document, pareto_listing

    given = {
        "--confirmed": confirmed,
        "--max-cost": max_cost is not None,
        "--max-latency": max_latency is not None,
        "-o": output is not None,
        "--force": force,
    }
    if pareto and any(given.values()):
        dropped = ", ".join(name for name, on in given.items() if on)
        raise UsageError(f"--pareto lists the fronts and exports nothing: drop {dropped}")
    if force and output is None:
        raise UsageError("--force replaces the file that -o names: add -o FILE, or drop --force")
    stored = open_study(storage, study_name)
    if pareto:
        click.echo(pareto_listing(stored))
        return
    document = export_document(stored, confirmed, max_cost, max_latency)
    text = write_yaml(document, output, force)
    if output is None:
        click.echo(text, nl=False)
        return
    click.echo(document.describe())
    click.echo(f"wrote {output}")


@click.command("confirm")
@study_option
@storage_option
@click.option("--top-k", type=click.IntRange(min=1), help="Confirm the K best distinct configs of the search.")
@click.option("--seeds", type=click.IntRange(min=1), help="Retrain each of them with this many new seeds.")
@click.option("--report", "show_report", is_flag=True, help="Print mean ± sd per config and the winner's verdicts.")
@click.option("--json", "as_json", is_flag=True, help="With --report: print JSON.")
def confirm_command(
    study_name: str, storage: str | None, top_k: int | None, seeds: int | None, show_report: bool, as_json: bool
) -> None:
    """Queue confirmation runs of the top configs with new seeds (workers run them), or report on them."""
    from hpo.errors import UsageError
    from hpo.results.confirm import confirmation_report, queue_confirmation
    from hpo.views.confirm_summary import describe_queued

    if as_json and not show_report:
        raise UsageError("--json goes with --report (queueing runs prints one line): add --report, or drop --json")
    stored = open_study(storage, study_name)
    if show_report:
        if top_k is not None or seeds is not None:
            raise UsageError("--report takes no --top-k or --seeds: it reports on the runs already queued")
        report = confirmation_report(stored)
        click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.describe())
        return
    if top_k is None or seeds is None:
        raise UsageError("give --top-k K and --seeds S to queue confirmation runs, or --report")
    click.echo(describe_queued(queue_confirmation(stored, top_k, seeds), study_name))


@click.command("report")
@study_option
@storage_option
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1), help="Trials in the table.")
def report_command(study_name: str, storage: str | None, output: Path, top: int) -> None:
    """Write a static report: HTML and PNG plots, and a Markdown table of the top trials."""
    from hpo.views.report import write_report

    report = write_report(open_study(storage, study_name), output, top)
    for path in report.files:
        click.echo(str(path))
