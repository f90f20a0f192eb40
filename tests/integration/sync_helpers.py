"""Real hub processes on loopback ports, for sync tests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.integration.test_cli import free_port

ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("EDGE_NODE_", "SYNC_HUB_"))}
ADMIN_PASSWORD = "mat-khau-tinh-123"


def hub_cli(home: Path, *args, **kwargs):
    kwargs.setdefault("env", ENV)
    return subprocess.run([sys.executable, "-m", "sync", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60, **kwargs)


class Hub:
    """A ``sync-hub serve`` process that can be stopped and started again."""

    def __init__(self, home: Path):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        added = hub_cli(home, "user", "add", "tinh", "--role", "admin", "--password-stdin",
                        input=ADMIN_PASSWORD + "\n")
        assert added.returncode == 0, added.stderr

    def start(self) -> Hub:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "--home", str(self.home), "serve", "--port",
             str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=ENV)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read()
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("hub did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc:
            self.proc.stderr.close()
        self.proc = None

    def enroll_code(self, commune: str = "03325", agency: str = "") -> str:
        args = ["enroll-code", "--commune", commune] + (["--agency-id", agency] if agency else [])
        out = hub_cli(self.home, *args)
        assert out.returncode == 0, out.stderr
        return re.search(r": ([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", out.stdout).group(1)

    def token(self) -> dict:
        resp = requests.post(self.url + "/api/v1/session", timeout=5,
                             json={"username": "tinh", "password": ADMIN_PASSWORD})
        assert resp.status_code == 201, resp.text
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def get(self, path: str):
        return requests.get(self.url + path, headers=self.token(), timeout=10)


def node_cli(home, *args):
    """Run ``edge-node --home HOME ARGS`` as a separate process."""
    return subprocess.run([sys.executable, "-m", "edge_node", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=120, env=ENV)


def linked_node(tmp_path, cfg, db):
    """A running hub and an enrolled node; yields ``(hub, world)`` and stops the hub."""
    from tests.integration.lifecycle_helpers import World, vn

    hub = Hub(tmp_path / "hub").start()
    assert node_cli(cfg.home, "enroll", "--hub", hub.url, "--code",
                    hub.enroll_code()).returncode == 0
    try:
        yield hub, World(db, vn(2026, 12, 7, 8, 0))
    finally:
        hub.stop()
