"""A real console server (uvicorn in a thread, embedded mode on a temporary folder) and Debian's Chromium.

Browser tests never skip: without /usr/bin/chromium (installed by `make test` through
deploy/browser.sh) they fail. `playwright install` is never used: Playwright drives the system browser
through executable_path.
"""

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from console.settings import ConsoleSettings
from shuyuan.embedded import Embedded, build_embedded

CHROMIUM = os.environ.get("SHUYUAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@dataclass
class ConsoleServer:
    """The running server: its console URL and the embedded exchange behind it."""

    url: str
    embedded: Embedded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleServer]:
    """The embedded exchange with demo accounts, served by uvicorn on a free port."""
    embedded = build_embedded(
        tmp_path_factory.mktemp("console"),
        console_settings=ConsoleSettings(environment="test"),
        demo_accounts=True,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(embedded.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and server.started:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the console server did not start within 30 s")
        time.sleep(0.1)
    try:
        yield ConsoleServer(url=f"{base}/console", embedded=embedded)
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Debian Chromium (each launch gets a fresh temporary profile from Playwright)."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make test` (deploy/browser.sh installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) and page; JavaScript errors fail the test."""
    context = browser.new_context(locale="zh-CN", viewport={"width": 1360, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def shoot() -> "Shooter":
    """Save a full-page screenshot under tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return Shooter()


class Shooter:
    """Writes console-<name>.png under tests/artifacts/."""

    def __call__(self, page: Page, name: str) -> Path:
        """Screenshot the whole page."""
        path = ARTIFACTS / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path
