"""The ``hpo`` command line: parse arguments, configure output, call the library, print results.

Results go to stdout, logs to stderr. An :class:`~hpo.errors.HpoError` becomes one line on
stderr and its exit code (2 for bad input); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from hpo import __version__
from hpo.errors import HpoError, UsageError

logger = logging.getLogger(__name__)
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
)


class HpoGroup(click.Group):
    """Turns HpoError into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HpoError as exc:
            if ctx.meta.get("hpo_debug"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=HpoGroup)
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
    configure_logging("WARNING" if quiet else log_level.upper(), debug)


def configure_logging(level: str, debug: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.WARNING)


def _quiet_libraries(training: bool = False) -> None:
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


storage_option = click.option(
    "--storage",
    metavar="URL",
    help="Study storage URL. Default: $HPO_STORAGE, else sqlite:///hpo.db.",
)
study_option = click.option("--study", "study_name", required=True, metavar="NAME", help="Study name.")


@cli.command("create-study")
@click.option("--config", "config_path", required=True, metavar="FILE", help="YAML study config.")
@storage_option
@click.option("--name", metavar="NAME", help="Study name, instead of the config's study_name.")
@click.option("--load-if-exists", is_flag=True, help="Reuse an existing study with an identical config.")
def create_study_command(config_path: str, storage: str | None, name: str | None, load_if_exists: bool) -> None:
    """Validate a config and its data, create the study, and print its name."""
    from hpo.storage import resolve_storage_url
    from hpo.study import create_study_from_file

    url = resolve_storage_url(storage)
    _quiet_libraries(training=True)
    click.echo(create_study_from_file(config_path, url, name, load_if_exists))


@cli.command("worker")
@study_option
@storage_option
@click.option("--gpus", metavar="IDS", help="Run one worker per GPU: '0,1' or 'all'.")
@click.option("--n-trials", type=click.IntRange(min=1), help="Run at most this many trials in this worker.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Start no trial after this many seconds.")
@click.option(
    "--progress",
    type=click.Choice(["auto", "bars", "log"]),
    default="auto",
    show_default=True,
    help="Live bars, plain log lines, or bars only on a terminal.",
)
@click.option(
    "--stop-grace",
    type=click.FloatRange(min=0, min_open=True),
    metavar="S",
    help="After SIGINT/SIGTERM, abandon (and re-queue) a trial still running after S seconds.",
)
@click.option("--max-restarts", default=3, show_default=True, type=click.IntRange(min=0), help="With --gpus.")
@click.pass_context
def worker_command(
    ctx: click.Context,
    study_name: str,
    storage: str | None,
    gpus: str | None,
    n_trials: int | None,
    timeout: float | None,
    progress: str,
    stop_grace: float | None,
    max_restarts: int,
) -> None:
    """Run trials of a study until its budget is done."""
    from hpo.storage import resolve_storage_url

    url = resolve_storage_url(storage)
    if gpus is not None:
        from hpo.supervisor import parse_gpus, run_supervised

        args = ["--study", study_name, "--progress", "log"]  # one terminal cannot hold several live displays
        args += ["--n-trials", str(n_trials)] if n_trials else []
        args += ["--timeout", str(timeout)] if timeout else []
        args += ["--stop-grace", str(stop_grace)] if stop_grace else []
        sys.exit(run_supervised(parse_gpus(gpus), url, args, max_restarts))
    from hpo.progress import LogProgress, RichProgress
    from hpo.worker import Interrupted, StopSignals, run_worker

    _quiet_libraries(training=True)
    live = progress == "bars" or (progress == "auto" and sys.stderr.isatty() and not ctx.meta["hpo_quiet"])
    try:
        with StopSignals(grace=stop_grace) as stop:
            summary = run_worker(
                url,
                study_name,
                n_trials=n_trials,
                timeout=timeout,
                stop=stop,
                progress=RichProgress if live else LogProgress,
            )
    except Interrupted as reason:
        click.echo(f"error: {reason}: abandoned the running trial (it will be re-run)", err=True)
        sys.exit(130)
    states = ", ".join(f"{n} {s.lower()}" for s, n in summary.states.items()) or "no trials"
    click.echo(
        f"{summary.study_name}: this worker ran {summary.trials} trials ({states}); stopped: {summary.stopped_because}"
    )


@cli.command("best")
@study_option
@storage_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the YAML here.")
def best_command(study_name: str, storage: str | None, output: Path | None) -> None:
    """Export the best trial as YAML: params, resolved training config, metric, provenance."""
    from hpo.export import best_trial_document, write_yaml
    from hpo.storage import open_storage, resolve_storage_url
    from hpo.study import load_stored_study

    url = resolve_storage_url(storage)
    _quiet_libraries()
    document = best_trial_document(load_stored_study(open_storage(url), url, study_name))
    text = write_yaml(document, output)
    if output is None:
        click.echo(text, nl=False)
        return
    metric = document["metric"]
    click.echo(f"best trial {document['trial']['number']}: {metric['name']} = {metric['value']:.4f}")
    for key, value in document["training"].items():
        click.echo(f"  {key}: {value}")
    click.echo(f"wrote {output}")


@cli.command("studies")
@storage_option
def studies_command(storage: str | None) -> None:
    """List the studies in the storage with their trial counts and best value."""
    from hpo.storage import open_storage, resolve_storage_url
    from hpo.summary import STATES, list_studies

    url = resolve_storage_url(storage)
    _quiet_libraries()
    rows = list_studies(open_storage(url))
    header = ["study", "objective", "metric", *[s.lower() for s in STATES], "best"]
    table = [header] + [
        [
            r.name,
            r.objective,
            r.metric,
            *[str(r.states.get(s, 0)) for s in STATES],
            "-" if r.best is None else f"{r.best:.4f}",
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@cli.command("status")
@study_option
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status_command(study_name: str, storage: str | None, as_json: bool) -> None:
    """Trials by state, the best trial so far, and running trials with their age."""
    from hpo.storage import open_storage, resolve_storage_url
    from hpo.study import load_stored_study
    from hpo.summary import format_status, study_status

    url = resolve_storage_url(storage)
    _quiet_libraries()
    status = study_status(load_stored_study(open_storage(url), url, study_name))
    click.echo(json.dumps(status, indent=2) if as_json else format_status(status))


@cli.command("baseline")
@study_option
@storage_option
def baseline_command(study_name: str, storage: str | None) -> None:
    """Score every candidate base model zero-shot on dev and test; store the results on the study."""
    from hpo.baseline import run_baselines
    from hpo.evaluation import format_table
    from hpo.storage import open_storage, resolve_storage_url
    from hpo.study import load_stored_study

    url = resolve_storage_url(storage)
    _quiet_libraries(training=True)
    stored = load_stored_study(open_storage(url), url, study_name)
    click.echo(format_table(stored.config.objective, run_baselines(stored)))


@cli.command("train")
@click.argument("best_yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Model folder.")
@click.option("--splits", default="train", show_default=True, help="Splits to train on: 'train' or 'train,dev'.")
@click.option("--push-to-hub", metavar="REPO", help="Also push the model to this Hugging Face Hub repository.")
@click.option("--compare", multiple=True, metavar="MODEL", help="Another model to score zero-shot on test.")
def train_command(
    best_yaml: Path, output: Path, splits: str, push_to_hub: str | None, compare: tuple[str, ...]
) -> None:
    """Retrain from an exported best trial, score it on the held-out test split, save it."""
    from hpo.evaluation import format_table
    from hpo.final import load_best, parse_splits, train_final

    parsed = parse_splits(splits)
    recipe = load_best(best_yaml)
    _quiet_libraries(training=True)
    report = train_final(recipe, output, parsed, push_to_hub, compare)
    rows = [*report.baselines, *([report.test] if report.test else []), report.dev]
    click.echo(format_table(recipe.config.objective, rows))
    if report.trial_value is not None:
        click.echo(
            f"search trial dev {recipe.config.metric_name}: {report.trial_value:.4f}; retrained: {report.dev.value:.4f}"
        )
    click.echo(f"saved {output}" + (f" and pushed to {push_to_hub}" if push_to_hub else ""))


@cli.command("evaluate")
@click.argument("model")
@click.option("--config", "config_path", required=True, metavar="FILE", help="Study config whose evaluator to use.")
@click.option("--split", type=click.Choice(["dev", "test"]), default="test", show_default=True)
def evaluate_command(model: str, config_path: str, split: str) -> None:
    """Score a saved or Hub model with a study config's evaluator (full corpus)."""
    from hpo.config import load_config
    from hpo.data import load_data
    from hpo.evaluation import evaluate_model, format_table

    config = load_config(config_path)
    _quiet_libraries(training=True)
    data = load_data(config, include_test=split == "test")
    if split == "test" and data.test is None:
        raise UsageError(f"{config_path}: no test split (set data.test or data.test_fraction)")
    result = evaluate_model(model, config, data, split)
    click.echo(format_table(config.objective, [result]))
    for key, value in sorted(result.metrics.items()):
        click.echo(f"{key} {value:.4f}")


@cli.command("dashboard")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; keep it local unless needed.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def dashboard_command(storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study storage."""
    from hpo.dashboard import serve_dashboard
    from hpo.storage import resolve_storage_url

    url = resolve_storage_url(storage)
    _quiet_libraries()
    click.echo(f"http://{host}:{port}/dashboard")
    serve_dashboard(url, host, port)


@cli.command("storage-proxy")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=13000, show_default=True, type=click.IntRange(1, 65535))
def storage_proxy_command(storage: str | None, host: str, port: int) -> None:
    """Serve the study database through Optuna's gRPC storage proxy (workers: --storage grpc://HOST:PORT)."""
    from hpo.proxy import serve_storage_proxy
    from hpo.storage import resolve_storage_url

    url = resolve_storage_url(storage)
    _quiet_libraries()
    click.echo(f"grpc://{host}:{port}")
    serve_storage_proxy(url, host, port)


@cli.command("report")
@study_option
@storage_option
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1), help="Trials in the table.")
def report_command(study_name: str, storage: str | None, output: Path, top: int) -> None:
    """Write a static report: HTML and PNG plots, and a Markdown table of the top trials."""
    from hpo.report import write_report
    from hpo.storage import open_storage, resolve_storage_url
    from hpo.study import load_stored_study

    url = resolve_storage_url(storage)
    _quiet_libraries()
    report = write_report(load_stored_study(open_storage(url), url, study_name), output, top)
    for path in report.files:
        click.echo(str(path))


@cli.command("modal")
@study_option
@storage_option
@click.option("--containers", default=1, show_default=True, type=click.IntRange(min=1), help="Workers to start.")
@click.option("--gpu", default="A10G", show_default=True, help="Modal GPU type, e.g. T4, L4, A10G, A100, H100.")
@click.option("--cpu", default=4.0, show_default=True, type=click.FloatRange(min=0, min_open=True), help="CPU cores.")
@click.option("--memory", default=16384, show_default=True, type=click.IntRange(min=1), help="Memory in MiB.")
@click.option("--n-trials", type=click.IntRange(min=1), help="At most this many trials per container.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), help="Per container: start no trial after S s.")
@click.option(
    "--container-timeout", default=24 * 3600, show_default=True, type=int, help="Modal's limit on one container (s)."
)
@click.option(
    "--retries",
    default=1,
    show_default=True,
    type=int,
    help="Re-runs of a container that crashed (0 to 10); not config errors; preemption restarts are Modal's own.",
)
@click.option("--detach", is_flag=True, help="Return at once; the containers keep running.")
def modal_command(
    study_name: str,
    storage: str | None,
    containers: int,
    gpu: str,
    cpu: float,
    memory: int,
    n_trials: int | None,
    timeout: float | None,
    container_timeout: int,
    retries: int,
    detach: bool,
) -> None:
    """Run workers of a study in Modal containers; wait until the study's budget is done."""
    from hpo.cloud import check_results, prepare_launch, run_on_modal
    from hpo.modal_app import LaunchRequest, ModalSettings
    from hpo.storage import resolve_storage_url

    settings = ModalSettings(gpu=gpu, timeout=container_timeout, retries=retries, cpu=cpu, memory=memory)
    request = LaunchRequest(resolve_storage_url(storage), study_name, containers, settings, n_trials, timeout, detach)
    request = prepare_launch(request)
    _quiet_libraries()
    results = run_on_modal(request)
    if detach:
        click.echo(f"{containers} containers started on study {study_name} (detached)")
    for number, result in enumerate(results):
        click.echo(f"container {number}: {result.describe()}")
    check_results(results)


def main() -> None:
    cli(prog_name="hpo")
