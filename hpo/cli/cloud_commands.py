"""The command that runs workers in the cloud: modal."""

from __future__ import annotations

import click

from hpo.cli.shared import quiet_libraries, storage_option, storage_url, study_option


@click.command("modal")
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
    from hpo.cloud.launch import check_results, prepare_launch, run_on_modal
    from hpo.cloud.modal_app import LaunchRequest, ModalSettings

    settings = ModalSettings(gpu=gpu, timeout=container_timeout, retries=retries, cpu=cpu, memory=memory)
    request = prepare_launch(
        LaunchRequest(storage_url(storage), study_name, containers, settings, n_trials, timeout, detach)
    )
    quiet_libraries()
    results = run_on_modal(request)
    if detach:
        click.echo(f"{containers} containers started on study {study_name} (detached)")
    for number, result in enumerate(results):
        click.echo(f"container {number}: {result.describe()}")
    check_results(results)
