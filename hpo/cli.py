"""The ``hpo`` command line: parse arguments, configure output, call the library, print results.

Results go to stdout, logs to stderr. An :class:`~hpo.errors.HpoError` becomes one line on
stderr and its exit code (2 for bad input); ``--debug`` shows the traceback instead. Heavy
libraries are imported inside the commands, so ``hpo --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from hpo import __version__
from hpo.errors import HpoError

if TYPE_CHECKING:
    from hpo.storage import Storage, StorageUrl

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
            from hpo.storage import redact_urls

            first = (str(exc).strip().splitlines() or [""])[0]
            click.echo(
                f"error: internal error, {type(exc).__name__}: {redact_urls(first)} (--debug shows where)", err=True
            )
            ctx.exit(1)


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
    # What --gpus/--workers children are started with, so they log like their parent.
    ctx.meta["hpo_args"] = [
        "--log-level",
        log_level.upper(),
        *(["--quiet"] if quiet else []),
        *(["--debug"] if debug else []),
    ]
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


def _storage_url(cli_value: str | None) -> StorageUrl:
    from hpo.storage import StorageUrl

    return StorageUrl.resolve(cli_value, os.environ)


def _open(cli_value: str | None) -> Storage:
    from hpo.storage import open_storage

    return open_storage(_storage_url(cli_value))


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


def _bars(ctx: click.Context, progress: str) -> bool:
    return progress == "bars" or (progress == "auto" and sys.stderr.isatty() and not ctx.meta["hpo_quiet"])


@cli.command("create-study")
@click.option("--config", "config_path", required=True, metavar="FILE", help="YAML study config.")
@storage_option
@click.option("--name", metavar="NAME", help="Study name, instead of the config's study_name.")
@click.option("--load-if-exists", is_flag=True, help="Reuse an existing study with an identical config.")
def create_study_command(config_path: str, storage: str | None, name: str | None, load_if_exists: bool) -> None:
    """Validate a config and its data, create the study, and print its name."""
    from hpo.study import create_study_from_file

    url = _storage_url(storage)
    _quiet_libraries(training=True)
    click.echo(create_study_from_file(config_path, url, name, load_if_exists))


@cli.command("worker")
@study_option
@storage_option
@click.option("--gpus", metavar="IDS", help="Supervise one worker per GPU (--per-gpu each): '0,1' or 'all'.")
@click.option(
    "--per-gpu",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Workers per GPU; each trial starts once the GPU's free memory covers its estimate.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Supervise this many workers sharing this machine.")
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
@click.option("--max-restarts", default=3, show_default=True, type=click.IntRange(min=0), help="With --gpus/--workers.")
@trust_option
@click.pass_context
def worker_command(
    ctx: click.Context,
    study_name: str,
    storage: str | None,
    gpus: str | None,
    per_gpu: int,
    workers: int | None,
    n_trials: int | None,
    timeout: float | None,
    progress: str,
    stop_grace: float | None,
    max_restarts: int,
    trust_remote_code: bool,
) -> None:
    """Run trials of a study until its budget is done."""
    url = _storage_url(storage)
    if gpus is not None or workers is not None:
        from hpo.supervisor import gpu_slots, local_slots, run_supervised_study, worker_args

        slots = gpu_slots(gpus, per_gpu) if gpus is not None else local_slots(workers or 1)
        args = worker_args(study_name, n_trials, timeout, stop_grace, trust_remote_code)
        code, report = run_supervised_study(slots, url, ctx.meta["hpo_args"], args, study_name, max_restarts)
        for line in report:
            click.echo(line)
        sys.exit(code)
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
                trust_remote_code=trust_remote_code,
                device_share=_device_share(),
            )
    except Interrupted as reason:
        click.echo(f"error: {reason}: abandoned the running trial (it will be re-run)", err=True)
        sys.exit(130)
    click.echo(summary.describe())


def _device_share() -> float:
    """The share of its device this worker has: set by a --gpus/--workers parent, else the whole device."""
    from hpo.errors import UsageError
    from hpo.supervisor import DEVICE_SHARE_ENV

    value = os.environ.get(DEVICE_SHARE_ENV, "1")
    try:
        share = float(value)
    except ValueError:
        share = 0.0
    if not 0 < share <= 1:
        raise UsageError(f"{DEVICE_SHARE_ENV}={value!r}: expected a number in (0, 1]")
    return share


@cli.command("best")
@study_option
@storage_option
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the YAML here.")
@click.option("--force", is_flag=True, help="Replace an existing file that is not an export of this study.")
@click.option("--confirmed", is_flag=True, help="Export the winner of hpo confirm (best mean over seeds).")
@click.option("--pareto", is_flag=True, help="List the quality-vs-cost fronts instead of exporting.")
@click.option(
    "--max-cost", type=click.FloatRange(min=0), metavar="DOLLARS", help="Export the best trial that cost at most this."
)
@click.option(
    "--max-latency",
    type=click.FloatRange(min=0, min_open=True),
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
    from hpo.export import write_yaml
    from hpo.selection import export_document, pareto_listing
    from hpo.study import load_stored_study

    _quiet_libraries()
    stored = load_stored_study(_open(storage), study_name)
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


@cli.command("studies")
@storage_option
def studies_command(storage: str | None) -> None:
    """List the studies in the storage with their trial counts and best value."""
    from hpo.summary import format_studies, list_studies

    _quiet_libraries()
    click.echo(format_studies(list_studies(_open(storage))))


@cli.command("status")
@study_option
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def status_command(study_name: str, storage: str | None, as_json: bool) -> None:
    """Trials by state, the best trial so far, and running trials with their age."""
    from hpo.study import load_stored_study
    from hpo.summary import format_status, study_status

    _quiet_libraries()
    status = study_status(load_stored_study(_open(storage), study_name))
    click.echo(json.dumps(status, indent=2) if as_json else format_status(status))


@cli.command("baseline")
@study_option
@storage_option
@trust_option
@progress_option
@click.pass_context
def baseline_command(
    ctx: click.Context, study_name: str, storage: str | None, trust_remote_code: bool, progress: str
) -> None:
    """Score every candidate base model zero-shot on dev and test; store the results on the study."""
    from hpo.baseline import run_baselines
    from hpo.evaluation import format_table
    from hpo.study import load_stored_study

    _quiet_libraries(training=True)
    stored = load_stored_study(_open(storage), study_name)
    results = run_baselines(stored, trust_remote_code, progress=_bars(ctx, progress))
    click.echo(format_table(stored.config.objective, results))


@cli.command("train")
@click.argument("best_yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Model folder.")
@click.option("--splits", default="train", show_default=True, help="Splits to train on: 'train' or 'train,dev'.")
@click.option("--push-to-hub", metavar="REPO", help="Also push the model to this Hugging Face Hub repository.")
@click.option("--compare", multiple=True, metavar="MODEL", help="Another model to score zero-shot on test.")
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Also retrain with this many seeds in all.",
)
@click.option(
    "--max-test-queries", type=click.IntRange(min=1), metavar="N", help="Test on a seeded subset of N queries (pairs)."
)
@trust_option
@progress_option
@click.pass_context
def train_command(
    ctx: click.Context,
    best_yaml: Path,
    output: Path,
    splits: str,
    push_to_hub: str | None,
    compare: tuple[str, ...],
    seeds: int,
    max_test_queries: int | None,
    trust_remote_code: bool,
    progress: str,
) -> None:
    """Retrain from an exported best trial, score it on the held-out test split against each base model
    zero-shot (with a verdict), save it."""
    from hpo.dimensions import rows_by_dimension
    from hpo.evaluation import format_table
    from hpo.final import load_best, parse_splits, train_final

    parsed = parse_splits(splits)
    recipe = load_best(best_yaml)
    _quiet_libraries(training=True)
    report = train_final(
        recipe, output, parsed, push_to_hub, compare, trust_remote_code, seeds, max_test_queries, _bars(ctx, progress)
    )
    metric = recipe.config.metric_name
    click.echo(format_table(recipe.config.objective, rows_by_dimension(report.rows())))
    if report.trial_value is not None:
        searched = recipe.document.metric.eval_corpus if recipe.document.metric else None
        corpora = (
            f"both on {report.dev.corpus}"
            if searched in (None, report.dev.corpus)
            else (f"trial on {searched}, retrained on {report.dev.corpus}")
        )
        click.echo(
            f"search trial dev {metric}: {report.trial_value:.4f}; retrained: {report.dev.value:.4f} ({corpora})"
        )
    for split in ("dev", "test"):
        summary = report.seed_summary(split)
        if summary is not None:
            click.echo(f"{split} {metric} over {summary[2]} seeds: {summary[0]:.4f} ± {summary[1]:.4f}")
    for verdict in report.verdicts:
        click.echo(f"verdict: {verdict.describe()}")
    click.echo(f"saved {output}" + (f" and pushed to {push_to_hub}" if push_to_hub else ""))


@cli.command("confirm")
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
    from hpo.confirm import confirmation_report, queue_confirmation
    from hpo.errors import UsageError
    from hpo.study import load_stored_study

    _quiet_libraries()
    stored = load_stored_study(_open(storage), study_name)
    if show_report:
        if top_k is not None or seeds is not None:
            raise UsageError("--report takes no --top-k or --seeds: it reports on the runs already queued")
        report = confirmation_report(stored)
        click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.describe())
        return
    if top_k is None or seeds is None:
        raise UsageError("give --top-k K and --seeds S to queue confirmation runs, or --report")
    runs = queue_confirmation(stored, top_k, seeds)
    queued = [r for r in runs if r.queued_now]
    trials = ", ".join(str(n) for n in dict.fromkeys(r.trial for r in runs))
    click.echo(
        f"{len(queued)} confirmation runs queued ({len(runs) - len(queued)} already there) for trials {trials}, "
        f"seeds {min(r.seed for r in runs)}-{max(r.seed for r in runs)}; "
        f"run: hpo worker --study {study_name}, then: hpo confirm --study {study_name} --report"
    )


@cli.command("evaluate")
@click.argument("model")
@click.option("--config", "config_path", required=True, metavar="FILE", help="Study config whose evaluator to use.")
@click.option("--split", type=click.Choice(["dev", "test"]), default="test", show_default=True)
@trust_option
def evaluate_command(model: str, config_path: str, split: Literal["dev", "test"], trust_remote_code: bool) -> None:
    """Score a saved or Hub model with a study config's evaluator (full corpus)."""
    from hpo.dimensions import rows_by_dimension
    from hpo.evaluation import evaluate_with_config, format_table

    _quiet_libraries(training=True)
    objective, result = evaluate_with_config(model, Path(config_path), split, trust_remote_code)
    click.echo(format_table(objective, rows_by_dimension([result])))
    for key, value in sorted(result.metrics.items()):
        click.echo(f"{key} {value:.4f}")


def server_options(port: int) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """--storage, --host (127.0.0.1: the servers have no authentication) and --port."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        host = click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (see Security).")
        return storage_option(
            host(click.option("--port", default=port, show_default=True, type=click.IntRange(1, 65535))(command))
        )

    return decorate


@cli.command("dashboard")
@server_options(port=8080)
def dashboard_command(storage: str | None, host: str, port: int) -> None:
    """Serve optuna-dashboard on the study storage."""
    from hpo.dashboard import serve_dashboard

    _quiet_libraries()
    click.echo(f"http://{host}:{port}/dashboard")
    serve_dashboard(_storage_url(storage), host, port)


@cli.command("storage-proxy")
@server_options(port=13000)
def storage_proxy_command(storage: str | None, host: str, port: int) -> None:
    """Serve the study database through Optuna's gRPC storage proxy (workers: --storage grpc://HOST:PORT)."""
    from hpo.proxy import serve_storage_proxy

    _quiet_libraries()
    click.echo(f"grpc://{host}:{port}")
    serve_storage_proxy(_storage_url(storage), host, port)


@cli.command("report")
@study_option
@storage_option
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder.")
@click.option("--top", default=10, show_default=True, type=click.IntRange(min=1), help="Trials in the table.")
def report_command(study_name: str, storage: str | None, output: Path, top: int) -> None:
    """Write a static report: HTML and PNG plots, and a Markdown table of the top trials."""
    from hpo.report import write_report
    from hpo.study import load_stored_study

    _quiet_libraries()
    report = write_report(load_stored_study(_open(storage), study_name), output, top)
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

    settings = ModalSettings(gpu=gpu, timeout=container_timeout, retries=retries, cpu=cpu, memory=memory)
    request = prepare_launch(
        LaunchRequest(_storage_url(storage), study_name, containers, settings, n_trials, timeout, detach)
    )
    _quiet_libraries()
    results = run_on_modal(request)
    if detach:
        click.echo(f"{containers} containers started on study {study_name} (detached)")
    for number, result in enumerate(results):
        click.echo(f"container {number}: {result.describe()}")
    check_results(results)


def main() -> None:
    cli(prog_name="hpo")
