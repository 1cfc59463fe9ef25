"""Every page of the running app in a real browser (Debian chromium driven by playwright).

The app runs as `streamlit run` (the stack service's command line) over the test world. The
browser signs in, opens each page from the navigation, checks that no Streamlit exception box
shows and that the key numbers do, and saves a screenshot per page under `artifacts/dashboards/`
(ignored by git). Without chromium the test is skipped, unless MURMUR_E2E=1 (CI) asks for it:
then it fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from murmur.net import free_port, wait_until
from murmur.stack.dashboards_service import streamlit_argv, streamlit_environ
from tests.dashboards.world import PASSWORD, World

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "dashboards"
TIMEOUT_MS = 90_000
# page → texts that must show (the key numbers of the test world); chart text is drawn on a
# canvas, so these are metrics, headings, alerts, code and widget labels
PAGES: dict[str, list[str]] = {
    "Overview": ["Sends", "66.7%", "75.0%", "25.0%"],
    "Campaign report": ["Sends", "75.0%", "Top links", "Download CSV"],
    "Deliverability": ["25.000%", "0.3%"],
    "Segments": ["Members", "criteria", "Definition", "subscribed"],
    "Contact 360": ["Search by email"],
    "Campaigns": ["Create a campaign", "Progress", "Preview"],
    "Pipeline health": ["Dead letters (DLQ)", "Last runs", "Asset checks"],
    "Services": ["Local services"],
}


def _browser_or_skip() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("MURMUR_E2E") == "1":
        pytest.fail(f"MURMUR_E2E=1 asks for the browser test but {message}")
    pytest.skip(message)


@pytest.fixture
def app_url(world: World, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    s = world.settings
    env = {
        **streamlit_environ(Path(s.state_dir)),
        "MURMUR_POSTGRES_URL": s.postgres_url or "",
        "MURMUR_CLICKHOUSE_URL": s.clickhouse_url or "",
        "MURMUR_CLICKHOUSE_DATABASE": s.clickhouse_database,
        "MURMUR_KAFKA_BOOTSTRAP_SERVERS": s.kafka_bootstrap_servers or "",
    }
    env.pop("DAGSTER_HOME", None)
    log = (tmp_path / "streamlit.log").open("wb")
    proc = subprocess.Popen(streamlit_argv("127.0.0.1", port), env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited: {(tmp_path / 'streamlit.log').read_text()}")
        try:
            return httpx.get(f"{url}/_stcore/health", timeout=2).text.strip() == "ok"
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 120, f"streamlit on port {port}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_every_page_loads_in_chromium_with_its_numbers(app_url: str, world: World) -> None:
    _browser_or_skip()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(f"{app_url}/overview")  # a page's URL before sign-in: the sign-in page
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            assert page.get_by_text("Unique open rate").count() == 0
            page.goto(app_url)  # a fresh session (the unknown-page dialog of the last one closed)
            page.get_by_label("Email", exact=True).fill(world.user("admin"))
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            for title, texts in PAGES.items():
                nav = page.get_by_test_id("stSidebarNav")
                nav.get_by_role("link", name=title, exact=True).click()
                expect(page.get_by_role("heading", name=title)).to_be_visible()
                if title == "Contact 360":
                    page.get_by_label("Search by email").fill("alice@")
                    page.get_by_label("Search by email").press("Enter")
                    texts = [*texts, "alice@gmail.com", "subscribed", "Activity timeline"]
                for text in texts:
                    expect(page.get_by_text(text).filter(visible=True).first).to_be_visible()
                name = title.lower().replace(" ", "-")
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
                assert page.get_by_test_id("stException").count() == 0, title
                assert page.get_by_text("Could not load").count() == 0, title
        finally:
            browser.close()
