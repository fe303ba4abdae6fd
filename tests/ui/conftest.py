"""Browser tests of the dashboard: Playwright (sync API) driving Debian's
Chromium against a real ``skruntime serve`` child process.

Chromium is not downloaded (``playwright install`` cannot work offline): the
tests use the system browser at ``/usr/bin/chromium`` (``apt-get install -y
chromium``; ``.ci/run`` installs it), or ``SKRUNTIME_CHROMIUM``.  When it is
missing the tests fail with a message saying so; they never skip.

Screenshots of every page go to ``tests/ui/screenshots/`` (ignored by git), or
to ``SKRUNTIME_UI_SCREENSHOTS``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from skruntime.client import Client
from tests import serverproc
from tests.server.conftest import ADMIN_KEY

CHROMIUM = os.environ.get("SKRUNTIME_CHROMIUM", "/usr/bin/chromium")
# The machine has no network: without these Chromium stalls on background fetches.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("SKRUNTIME_UI_SCREENSHOTS", Path(__file__).parent / "screenshots"))
TIMEOUT_MS = 10_000


@dataclass
class UiServer:
    """A ``skruntime serve`` child process (restartable on the same port)."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ui(self) -> str:
        return self.url + "/ui/"

    def start(self) -> None:
        env = serverproc.server_env(self.root, self.port, SKRUNTIME_BOOTSTRAP_KEY=ADMIN_KEY)
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "skruntime.cli", "serve"], cwd=self.root, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 30
        while True:
            assert self.process.poll() is None, (self.root / "server.log").read_text()
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=20)
        self.process = None

    def client(self, scope: str = "admin") -> Client:
        return Client(self.url, api_key=self.keys[scope])


@pytest.fixture(scope="session")
def chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"the dashboard's browser tests need Chromium at {CHROMIUM}, and it is not there: "
            "install Debian's package (apt-get install -y chromium; .ci/run does this) "
            "or point SKRUNTIME_CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    server = UiServer(tmp_path_factory.mktemp("ui-server"), serverproc.free_port())
    server.start()
    server.keys["admin"] = ADMIN_KEY
    try:
        with Client(server.url, api_key=ADMIN_KEY) as admin:
            server.keys["read"] = admin.create_key("read", "dashboard read-only test").key or ""
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Problems:
    """What the page reported that a person would never want: script errors,
    Content-Security-Policy violations, failed requests for our own files."""

    messages: list[str] = field(default_factory=list)

    def console(self, message: ConsoleMessage) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.messages.append(f"CSP: {text}")
        elif message.type == "error" and not any(expected in text for expected in _EXPECTED_ERRORS):
            self.messages.append(f"console error: {text}")


# Chromium logs these itself: answers the tests ask for (401 refused key, 403
# read-only deploy, 404 unknown actor, 409 stale preview) and the WebSocket retries while the
# live test restarts the server (refused while it is down, 503 while it
# listens but is still recovering: the page retries either way).
_EXPECTED_ERRORS = (
    "status of 401",
    "status of 403",
    "status of 404",
    "status of 409",
    "ERR_CONNECTION_REFUSED",
    "Error during WebSocket handshake: Unexpected response code: 503",
)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = Problems()
    page.on("console", problems.console)
    page.on("pageerror", lambda error: problems.messages.append(f"page error: {error}"))
    try:
        yield page
    finally:
        context.close()
    assert problems.messages == [], problems.messages


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot in SCREENSHOTS (look at them)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page: Page, server: UiServer, scope: str = "admin") -> None:
    page.goto(server.ui)
    page.fill("#api-key", server.keys[scope])
    page.press("#api-key", "Enter")
    page.wait_for_selector("main[data-page='versions'][data-ready='true']")


def open_page(page: Page, hash_route: str, name: str) -> None:
    """Navigate inside the app (no reload) and wait until the page is drawn."""
    page.evaluate("route => { document.getElementById('main').removeAttribute('data-ready'); location.hash = route; }", hash_route)
    page.wait_for_selector(f"main[data-page='{name}'][data-ready='true']")
