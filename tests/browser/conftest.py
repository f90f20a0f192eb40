"""Browser tests: a real node process on a loopback port, driven by Debian's Chromium.

The browser is never downloaded: Playwright drives ``/usr/bin/chromium`` (or the
``chromium`` on PATH). Without it these tests fail instead of skipping, since CI
installs it (see ``.ci/run``).

Every context replaces ``window.print`` with a counter (an init script), so a test
can check that the slip asks to be printed, and ``page.pdf`` never collides with a
print job that headless Chromium would otherwise start ("Page is already being
printed").
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.integration.test_cli import free_port

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("EDGE_NODE_", "SYNC_HUB_"))}
# One server serves the whole browser session and every test logs in from 127.0.0.1: the
# per-address login limit (tested in tests/integration/test_tokens.py) would refuse them.
ENV["EDGE_NODE_LOGIN_RATE_PER_MINUTE"] = "1000"
PASSWORD = "mat-khau-trinh-duyet"
ARTIFACTS = REPO / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Accounts of the shared node: (username, role, full name).
ACCOUNTS = (("canbo1", "clerk", "Lò Thị Hoa"), ("canbo2", "clerk", "Quàng Văn Minh"),
            ("chuyenvien", "officer", "Lường Thị Mai"), ("lanhdao", "leader", "Cà Văn Dũng"),
            ("quantri", "admin", ""))
PRINT_STUB = """
window.__printCalls = 0;
window.print = function () { window.__printCalls += 1; };
"""


def chromium_path() -> str:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("Chromium not found: install Debian's package (apt-get install chromium); "
                "these tests never download a browser.", pytrace=False)


class Node:
    """An ``edge-node`` home and its ``serve`` process on 127.0.0.1."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = None
        out = self.cli("init")
        match = re.search(r"password: (\S+)", out)
        assert match, out
        self.admin_password = match.group(1)

    def cli(self, *args: str, stdin: str | None = None) -> str:
        result = subprocess.run([sys.executable, "-m", "edge_node", "--home", str(self.home),
                                 *args], input=stdin, capture_output=True, text=True,
                                timeout=60, env=ENV, cwd=REPO)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def add_user(self, username: str, role: str, full_name: str = "") -> None:
        extra = ["--full-name", full_name] if full_name else []
        self.cli("user", "add", username, "--role", role, *extra, "--password-stdin",
                 stdin=PASSWORD + "\n")

    def start(self) -> Node:
        self.log = open(self.home / "serve.out", "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edge_node", "--home", str(self.home), "serve", "--port",
             str(self.port)], stdout=self.log, stderr=subprocess.STDOUT, env=ENV, cwd=REPO)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError((self.home / "serve.out").read_text(encoding="utf-8"))
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError(f"{self.url} did not answer")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


@pytest.fixture(scope="session")
def node(tmp_path_factory):
    """One node shared by the tests: clerks canbo1/canbo2, an officer, a leader, an admin.

    Its first admin keeps the printed one-time password (for the first-login test).
    """
    server = Node(tmp_path_factory.mktemp("browser") / "home")
    for username, role, full_name in ACCOUNTS:
        server.add_user(username, role, full_name)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_node(tmp_path):
    """Fresh nodes (not started) for tests that change node-wide state."""
    made: list[Node] = []

    def make(name: str = "home") -> Node:
        made.append(Node(tmp_path / name))
        return made[-1]

    yield make
    for server in made:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        # launch() gives the browser a fresh temporary profile (user-data dir).
        chromium = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Pages in fresh contexts (one per simulated PC), 1366×768, Vietnamese locale."""
    contexts = []

    def make(**options):
        options = {"viewport": VIEWPORT, **options}
        context = browser.new_context(locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", **options)
        context.set_default_timeout(15_000)
        context.add_init_script(PRINT_STUB)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def screenshot(page, name: str) -> Path:
    """Save what the clerk sees (the viewport, not the full page) as artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def login(page, server: Node, username: str, password: str = PASSWORD) -> None:
    page.goto(server.url + "/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    assert "/login" not in page.url, page.locator("main").inner_text()


def user_page(new_page, server: Node, username: str, **options):
    page = new_page(**options)
    login(page, server, username)
    return page


def receive(page, server: Node, full_name: str = "Lò Văn Thành", *,
            procedure: str = "1.001193") -> str:
    """Accept a dossier through the intake form (mouse-free but not keyboard-timed)."""
    page.goto(f"{server.url}/intake?procedure_code={procedure}")
    page.get_by_label("Họ và tên").fill(full_name)
    page.get_by_label("Số định danh cá nhân").fill("011090001234")
    page.get_by_label("Số điện thoại").fill("0912345678")
    page.locator("#address").fill("Bản Phăng, xã Mường Phăng")
    page.locator("input[name=documents_received]").first.check()
    page.get_by_role("button", name="Tiếp nhận và in giấy hẹn").click()
    page.wait_for_url(re.compile(r"/dossiers/[^/]+/slip\?print=1$"))
    return page.url.split("/dossiers/")[1].split("/")[0]
