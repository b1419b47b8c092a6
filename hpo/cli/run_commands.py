"""The commands that train or score models: worker, baseline, train, evaluate."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from hpo.cli.shared import (
    POSITIVE,
    open_study,
    progress_option,
    show_bars,
    storage_option,
    storage_url,
    study_option,
    trust_option,
)
from hpo.log_setup import quiet_libraries

if TYPE_CHECKING:
    from hpo.settings.remote_code import RemoteCodeConsent


@click.command("worker")
@study_option
@storage_option
@click.option("--gpus", metavar="IDS", help="Supervise one worker per GPU (--per-gpu each): '0,1' or 'all'.")
@click.option(
    "--per-gpu",
    type=click.IntRange(min=1),
    help="With --gpus: workers per GPU (default 1); each trial starts once the GPU's free memory covers its estimate.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Supervise this many workers sharing this machine (no more than the study's trials left); the CPU cores "
    "are divided among them. On CPU, run at most one per core: more only slows every trial.",
)
@click.option("--n-trials", type=click.IntRange(min=1), help="Run at most this many trials in this worker.")
@click.option("--timeout", type=POSITIVE, help="Start no trial after this many seconds.")
@click.option(
    "--progress",
    type=click.Choice(["auto", "bars", "log"]),
    default="auto",
    show_default=True,
    help="Live bars, plain log lines, or bars only on a terminal.",
)
@click.option(
    "--stop-grace",
    type=POSITIVE,
    metavar="S",
    help="After SIGINT/SIGTERM, abandon (and re-queue) a trial still running after S seconds.",
)
@click.option(
    "--max-restarts", type=click.IntRange(min=0), help="With --gpus/--workers: restarts of a crashed child (default 3)."
)
@trust_option
@click.pass_context
def worker_command(
    ctx: click.Context,
    study_name: str,
    storage: str | None,
    gpus: str | None,
    per_gpu: int | None,
    workers: int | None,
    n_trials: int | None,
    timeout: float | None,
    progress: str,
    stop_grace: float | None,
    max_restarts: int | None,
    trust_remote_code: RemoteCodeConsent,
) -> None:
    """Run trials of a study until its budget is done."""
    from hpo.workers.supervisor import as_supervised_child, check_options

    check_options(gpus, per_gpu, workers, max_restarts, progress)
    url = storage_url(storage)
    if gpus is not None or workers is not None:
        from hpo.workers.supervisor import run_supervised_study, supervised_slots, worker_args

        slots = supervised_slots(gpus, per_gpu or 1, workers or 1, url, study_name)
        args = worker_args(study_name, n_trials, timeout, stop_grace, trust_remote_code)
        restarts = 3 if max_restarts is None else max_restarts
        code, report = run_supervised_study(slots, url, ctx.meta["hpo_args"], args, study_name, restarts)
        for line in report:
            click.echo(line)
        sys.exit(code)
    from hpo.progress import LogProgress, RichProgress
    from hpo.workers.signals import Interrupted, StopSignals
    from hpo.workers.worker import device_share_from, run_worker

    as_supervised_child(os.environ)
    quiet_libraries(training=True)
    try:
        with StopSignals(grace=stop_grace) as stop:
            summary = run_worker(
                url,
                study_name,
                n_trials=n_trials,
                timeout=timeout,
                stop=stop,
                progress=RichProgress if show_bars(ctx, progress) else LogProgress,
                trust_remote_code=trust_remote_code,
                device_share=device_share_from(os.environ),
            )
    except Interrupted as reason:
        click.echo(f"error: {reason}: abandoned the running trial (it will be re-run)", err=True)
        sys.exit(130)
    click.echo(summary.describe())


@click.command("baseline")
@study_option
@storage_option
@trust_option
@progress_option
@click.pass_context
def baseline_command(
    ctx: click.Context, study_name: str, storage: str | None, trust_remote_code: RemoteCodeConsent, progress: str
) -> None:
    """Score every candidate base model zero-shot on dev and test; store the results on the study."""
    from hpo.results.baseline import run_baselines
    from hpo.results.evaluation import format_table

    stored = open_study(storage, study_name, training=True)
    results = run_baselines(stored, trust_remote_code, progress=show_bars(ctx, progress))
    click.echo(format_table(stored.config.objective, results))


@click.command("train")
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
    trust_remote_code: RemoteCodeConsent,
    progress: str,
) -> None:
    """Retrain from an exported best trial, score it on the held-out test split against each base model
    zero-shot (with a verdict), save it."""
    from hpo.results.final import load_best, parse_splits, train_final
    from hpo.views.final_summary import final_summary_lines

    parsed = parse_splits(splits)
    recipe = load_best(best_yaml)
    quiet_libraries(training=True)
    report = train_final(
        recipe,
        output,
        parsed,
        push_to_hub,
        compare,
        trust_remote_code,
        seeds,
        max_test_queries,
        show_bars(ctx, progress),
    )
    for line in final_summary_lines(recipe, report, output, push_to_hub):
        click.echo(line)


@click.command("evaluate")
@click.argument("model")
@click.option("--config", "config_path", required=True, metavar="FILE", help="Study config whose evaluator to use.")
@click.option("--split", type=click.Choice(["dev", "test"]), default="test", show_default=True)
@trust_option
def evaluate_command(
    model: str, config_path: str, split: Literal["dev", "test"], trust_remote_code: RemoteCodeConsent
) -> None:
    """Score a saved or Hub model with a study config's evaluator (full corpus)."""
    from hpo.results.dimensions import rows_by_dimension
    from hpo.results.evaluation import evaluate_with_config, format_table

    quiet_libraries(training=True)
    objective, result = evaluate_with_config(model, Path(config_path), split, trust_remote_code)
    click.echo(format_table(objective, rows_by_dimension([result])))
    for key, value in sorted(result.metrics.items()):
        click.echo(f"{key} {value:.4f}")
