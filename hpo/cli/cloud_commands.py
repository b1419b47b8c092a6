"""The command that runs workers in the cloud: modal."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from hpo.cli.shared import POSITIVE, storage_option, storage_url, study_option, trust_option
from hpo.log_setup import quiet_libraries

if TYPE_CHECKING:
    from hpo.settings.remote_code import RemoteCodeConsent


@click.command("modal")
@study_option
@storage_option
@click.option("--containers", default=1, show_default=True, type=click.IntRange(min=1), help="Workers to start.")
@click.option(
    "--gpu", default="A10G", show_default=True, help="Modal GPU type, one per container, e.g. T4, L4, A10G, A100, H100."
)
@click.option("--cpu", default=4.0, show_default=True, type=POSITIVE, help="CPU cores.")
@click.option("--memory", default=16384, show_default=True, type=click.IntRange(min=1), help="Memory in MiB.")
@click.option("--n-trials", type=click.IntRange(min=1), help="At most this many trials per container.")
@click.option("--timeout", type=POSITIVE, help="Per container: start no trial after S s.")
@click.option(
    "--trial-timeout",
    type=int,
    help="End a trial (FAIL, replaced) that runs longer than S s. Default: 7200, or half --container-timeout.",
)
@click.option(
    "--idle-timeout",
    default=600,
    show_default=True,
    type=int,
    help="End a container that has waited S s on other containers' trials with none of its own to run.",
)
@click.option(
    "--container-timeout",
    default=24 * 3600,
    show_default=True,
    type=int,
    help="Modal's limit on one container (s); a retry starts a new one.",
)
@click.option(
    "--retries",
    default=1,
    show_default=True,
    type=int,
    help="Re-runs of a container that crashed or lost its storage (0 to 10); not config errors, "
    "and not preemptions, which Modal restarts without spending one.",
)
@click.option("--detach", is_flag=True, help="Return at once; the containers keep running (for long runs).")
@trust_option
def modal_command(
    study_name: str,
    storage: str | None,
    containers: int,
    gpu: str,
    cpu: float,
    memory: int,
    n_trials: int | None,
    timeout: float | None,
    trial_timeout: int | None,
    idle_timeout: int,
    container_timeout: int,
    retries: int,
    detach: bool,
    trust_remote_code: RemoteCodeConsent,
) -> None:
    """Run workers of a study in Modal containers; wait until the study's budget is done."""
    from hpo.cloud.launch import check_results, prepare_launch, run_on_modal, stop_command
    from hpo.cloud.modal_app import LaunchRequest, ModalSettings

    settings = ModalSettings(
        gpu=gpu,
        timeout=container_timeout,
        retries=retries,
        cpu=cpu,
        memory=memory,
        trial_timeout=trial_timeout,
        idle_timeout=idle_timeout,
    )
    request = prepare_launch(
        LaunchRequest(
            storage_url(storage), study_name, containers, settings, n_trials, timeout, detach, trust_remote_code
        )
    )
    quiet_libraries()
    launched = run_on_modal(request)
    if detach:
        click.echo(
            f"{containers} containers started on study {study_name} (detached); "
            f"stop them with: {stop_command(launched.app_id)}"
        )
    for number, result in enumerate(launched.results):
        click.echo(f"container {number}: {result.describe()}")
    check_results(launched.results)
