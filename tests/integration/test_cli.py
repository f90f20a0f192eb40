"""The node as an IT technician starts it: real processes on loopback ports."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest
import requests

from edge_node.config import load_config
from edge_node.store import users as users_store
from edge_node.store.db import open_db

ENV = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_NODE_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def edge_node(home, *args, **kwargs):
    kwargs.setdefault("env", ENV)
    return subprocess.run([sys.executable, "-m", "edge_node", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60, **kwargs)


def wait_for(url: str, proc, seconds: float = 20) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stdout.read()}")
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


@pytest.fixture
def running_node(tmp_path):
    home, port = tmp_path / "home", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_node", "--home", str(home), "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        health = wait_for(f"http://127.0.0.1:{port}/healthz", proc)
        yield home, port, proc, health
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_up_initialises_serves_and_prints_the_first_login(running_node):
    home, port, proc, health = running_node
    assert health.status_code == 200 and health.json()["db"] == "ok"
    login = requests.get(f"http://127.0.0.1:{port}/login", timeout=5)
    assert login.status_code == 200 and "Đăng nhập" in login.text
    css = requests.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=5)
    assert css.status_code == 200
    proc.terminate()
    out = proc.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/" in out
    assert "Stopped." in out  # SIGTERM from a service manager shuts down cleanly
    password = re.search(r"password: (\S+)", out).group(1)
    # the printed one-time password really logs in (and must then be changed)
    session = requests.Session()
    # the same command again keeps the home and says so
    restarted = subprocess.Popen(
        [sys.executable, "-m", "edge_node", "--home", str(home), "up", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz", restarted)
        page = session.get(f"http://127.0.0.1:{port}/login", timeout=5).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        resp = session.post(f"http://127.0.0.1:{port}/login", timeout=5, data={
            "username": "admin", "password": password, "csrf_token": token})
        assert resp.url.endswith("/password")
    finally:
        restarted.terminate()
        again = restarted.communicate(timeout=10)[0]
    assert "Using the existing node home" in again and "password:" not in again


def test_second_server_on_the_same_home_is_refused(running_node):
    home, port, _, _ = running_node
    second = edge_node(home, "serve", "--port", str(free_port()))
    assert second.returncode != 0
    assert "already serving the home" in second.stderr


def test_taken_port_gives_a_clear_message(tmp_path):
    home = tmp_path / "home"
    assert edge_node(home, "init").returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = edge_node(home, "serve", "--port", str(port))
    assert result.returncode != 0 and "is the port taken" in result.stderr


def test_sync_before_enrollment_says_so(tmp_path):
    home = tmp_path / "home"
    edge_node(home, "init")
    for args in (("sync", "export", "--out", str(tmp_path / "x.edgesync")), ("sync", "--once")):
        result = edge_node(home, *args)
        assert result.returncode != 0 and "not_enrolled" in result.stderr
        assert "Traceback" not in result.stderr
        # what the clerk's page says, not "None" (the status of a node not enrolled is empty)
        assert "Máy này chưa được đăng ký với tỉnh." in result.stderr


def test_init_user_add_and_config_show(tmp_path):
    home = tmp_path / "home"
    first = edge_node(home, "init")
    assert first.returncode == 0 and "username: admin" in first.stdout
    again = edge_node(home, "init")
    assert again.returncode == 0 and "password:" not in again.stdout  # shown only once
    added = edge_node(home, "user", "add", "canbo1", "--role", "clerk", "--password-stdin",
                      input="mat-khau-rat-dai\n")
    assert added.returncode == 0, added.stderr
    db = open_db(load_config(home, environ={}).db_path)
    user = users_store.get_by_username(db, "canbo1")
    db.conn.close()
    assert user["role"] == "clerk" and not user["must_change_password"]
    dup = edge_node(home, "user", "add", "canbo1", "--role", "clerk")
    assert dup.returncode != 0 and "đã tồn tại" in dup.stderr
    weak = edge_node(home, "user", "add", "canbo2", "--role", "clerk", "--password-stdin",
                     input="123\n")
    assert weak.returncode != 0
    shown = edge_node(home, "config", "show", env={**ENV, "EDGE_NODE_PORT": "9123"})
    assert "port = 9123" in shown.stdout and "env EDGE_NODE_PORT" in shown.stdout
    assert edge_node(home, "--version").stdout.strip().endswith("0.1.0")


def test_bad_config_is_reported(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text("port = 'tám nghìn'\n", encoding="utf-8")
    result = edge_node(home, "config", "show")
    assert result.returncode != 0 and "expected an integer" in result.stderr


def test_two_starts_at_once_on_a_new_home_one_serves_one_is_refused(tmp_path):
    home = tmp_path / "home"
    ports = [free_port(), free_port()]
    procs = [subprocess.Popen([sys.executable, "-m", "edge_node", "--home", str(home), "up",
                               "--port", str(p)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=ENV) for p in ports]
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and all(p.poll() is None for p in procs):
            time.sleep(0.1)
        loser = next(p for p in procs if p.poll() is not None)
        out = loser.stdout.read()
        assert loser.returncode == 5 and "already serving the home" in out  # exit 5: locked
        assert "Traceback" not in out
        winner = next(p for p in procs if p is not loser)
        port = ports[procs.index(winner)]
        assert wait_for(f"http://127.0.0.1:{port}/healthz", winner).status_code == 200
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=10)
            p.stdout.close()


def test_reset_password_recovers_a_lost_admin_password(tmp_path):
    home = tmp_path / "home"
    edge_node(home, "init")
    result = edge_node(home, "user", "reset-password", "admin")
    assert result.returncode == 0 and "New one-time password for 'admin'" in result.stdout
    assert edge_node(home, "user", "reset-password", "khong-co").returncode != 0


@pytest.mark.parametrize("line,words", [
    ("working_hours = 'banana'", "working_hours"),
    ("agency_id = ''", "agency_id"),
    ("threads = 0", "at least 1"),
    ("port = 99999", "1 to 65535"),
    ("port = 8080.7", "expected an integer"),
    ("log_level = 'LOUD'", "log_level"),
])
def test_bad_settings_stop_the_node_with_a_clear_message(tmp_path, line, words):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(line + "\n", encoding="utf-8")
    result = edge_node(home, "serve")
    assert result.returncode != 0 and words in result.stderr
    assert "Traceback" not in result.stderr


def test_hub_refuses_a_zero_hour_enrollment_code_setting(tmp_path):
    from tests.integration.sync_helpers import hub_cli

    result = hub_cli(tmp_path / "hub", "enroll-code", "--commune", "03325",
                     env={**ENV, "SYNC_HUB_ENROLL_CODE_HOURS": "0"})
    assert result.returncode != 0 and "at least 1" in result.stderr
