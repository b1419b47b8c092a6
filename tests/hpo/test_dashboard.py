"""optuna-dashboard in a real headless Chromium, on a study with complete and pruned trials."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port, listening_addresses, load_study, serve

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = os.environ.get("HPO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def dashboard(finished_study: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "HPO_STORAGE": finished_study}
    base = f"http://127.0.0.1:{port}"
    server = serve([sys.executable, "-m", "hpo", "dashboard", "--port", str(port)], env, f"{base}/api/studies")
    try:
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_dashboard_binds_localhost_by_default(dashboard: str) -> None:
    port = int(dashboard.rsplit(":", 1)[1])
    assert listening_addresses(port) == {"127.0.0.1"}  # as the kernel has the server's socket


def test_dashboard_in_a_real_browser(dashboard: str, finished_study: str) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is required in CI and missing at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    study = load_study(finished_study)
    states = [t.state.name for t in study.trials]
    assert "PRUNED" in states and "COMPLETE" in states
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{dashboard}/dashboard")
        expect(page.get_by_text("tiny-retrieval").first).to_be_visible(timeout=20_000)

        page.goto(f"{dashboard}/dashboard/studies/1")
        expect(page.get_by_text("tiny-retrieval (id=1)")).to_be_visible(timeout=20_000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible(timeout=20_000)
        assert page.locator(".js-plotly-plot svg.main-svg").count() > 0  # a plot was drawn
        expect(page.get_by_text(f"Best Trial (number={study.best_trial.number})")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "dashboard-history.png"))

        page.goto(f"{dashboard}/dashboard/studies/1/trials")
        for trial in study.trials:  # every trial is listed, pruned ones included
            expect(page.get_by_text(f"Trial {trial.number}", exact=True).first).to_be_attached(timeout=20_000)
        expect(page.get_by_text("Pruned").first).to_be_attached()

        page.goto(f"{dashboard}/dashboard/studies/1/note")
        expect(page.get_by_text("Best so far").first).to_be_visible(timeout=20_000)
        page.screenshot(path=str(ARTIFACTS / "dashboard-note.png"))
        browser.close()
    assert (ARTIFACTS / "dashboard-history.png").stat().st_size > 10_000
    print(f"screenshots: {ARTIFACTS / 'dashboard-history.png'}, {ARTIFACTS / 'dashboard-note.png'}")
