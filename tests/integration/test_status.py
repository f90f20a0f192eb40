"""`edge-node status` and a server that refuses to start: the documented exit codes.

Real processes on a real home: a server killed with SIGKILL, a process holding
the home lock, a database damaged on disk, a port already taken.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.integration.test_cli import ENV, edge_node, free_port, wait_for

RUNNING, STOPPED, UNCLEAN, LOCKED, DB_CORRUPT, NO_HOME = 0, 3, 4, 5, 6, 7
HOME_NOT_WRITABLE, DISK_FULL, PORT_TAKEN = 8, 9, 10


def start_server(home, port, *extra, env=ENV):
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_node", "--home", str(home), "serve", "--port", str(port),
         *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    wait_for(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def stop(proc, sig=signal.SIGTERM) -> str:
    proc.send_signal(sig)
    out = proc.communicate(timeout=15)[0]
    return out


@pytest.fixture
def home(tmp_path):
    home = tmp_path / "home"
    assert edge_node(home, "init").returncode == 0
    return home


def status(home, *args):
    return edge_node(home, "status", *args)


def damage(db, offset=4096 * 3) -> bytes:
    """Overwrite one page in the middle of the database file; return the damaged bytes."""
    assert not db.with_name(db.name + "-wal").exists()  # everything is in the main file
    data = bytearray(db.read_bytes())
    data[offset:offset + 4096] = b"\xa5" * 4096
    db.write_bytes(bytes(data))
    return bytes(data)


def test_status_follows_the_server_through_start_clean_stop_and_kill(home):
    first = status(home)
    assert first.returncode == STOPPED and "never served" in first.stdout
    port = free_port()
    proc = start_server(home, port)
    try:
        running = status(home)
        assert running.returncode == RUNNING, running.stderr
        assert f"http://127.0.0.1:{port}/" in running.stdout and str(proc.pid) in running.stdout
        as_json = json.loads(status(home, "--json").stdout)
        assert as_json["state"] == "running" and as_json["exit_code"] == 0
    finally:
        out = stop(proc)
    assert "Stopped." in out
    clean = status(home)
    assert clean.returncode == STOPPED and "stopped cleanly" in clean.stdout

    proc = start_server(home, port)
    stop(proc, signal.SIGKILL)  # a power cut, as far as the home can tell
    unclean = status(home)
    assert unclean.returncode == UNCLEAN
    assert "without a clean stop" in unclean.stderr and str(proc.pid) in unclean.stderr

    # the next start is not blocked by the stale lock file and says what happened in the log
    proc = start_server(home, port)
    try:
        assert status(home).returncode == RUNNING
    finally:
        stop(proc)
    log = (home / "logs" / "edge-node.log").read_text(encoding="utf-8")
    assert "did not stop cleanly" in log
    assert status(home).returncode == STOPPED


def test_status_reports_a_home_held_by_another_command(home):
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from edge_node.lock import HomeLock; "
         f"lock = HomeLock(Path({str(home / 'edge-node.lock')!r}), 'restore').acquire(); "
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = status(home)
        assert result.returncode == LOCKED
        assert f"{holder.pid} restore" in result.stderr
        # a server cannot start meanwhile: second instance, its own exit code
        refused = edge_node(home, "serve", "--port", str(free_port()))
        assert refused.returncode == LOCKED and "already serving the home" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
    assert status(home).returncode == STOPPED  # the holder's death frees the home


def test_second_server_on_a_running_home_exits_with_the_locked_code(home):
    proc = start_server(home, free_port())
    try:
        second = edge_node(home, "serve", "--port", str(free_port()))
        assert second.returncode == LOCKED and f"process {proc.pid} serve" in second.stderr
    finally:
        stop(proc)


def test_damaged_database_is_reported_and_never_touched(home, tmp_path):
    db = home / "edge-node.db"
    damaged = damage(db)
    result = status(home)
    assert result.returncode == DB_CORRUPT
    assert "is damaged" in result.stderr and "Save first" in result.stderr
    assert "edge-node restore" in result.stderr
    for command in (("serve", "--port", str(free_port())), ("up", "--port", str(free_port()))):
        start = edge_node(home, *command)
        assert start.returncode == DB_CORRUPT, (command, start.stderr)
        assert "did not change the file" in start.stderr and "Save first" in start.stderr
        assert "Traceback" not in start.stderr
        assert "password" not in start.stdout  # no fresh admin over a damaged home
    assert db.read_bytes() == damaged  # same bytes: nothing repaired, nothing recreated
    wal = db.with_name(db.name + "-wal")  # a read-only check may open an empty journal
    assert not wal.exists() or wal.stat().st_size == 0


def test_a_file_that_is_not_a_database_is_reported_the_same_way(home):
    db = home / "edge-node.db"
    data = bytearray(db.read_bytes())
    data[:100] = b"this is not SQLite " * 5 + b"!!!!!"
    db.write_bytes(bytes(data))
    result = status(home)
    assert result.returncode == DB_CORRUPT and "not a database" in result.stderr
    start = edge_node(home, "serve", "--port", str(free_port()))
    assert start.returncode == DB_CORRUPT and db.read_bytes() == bytes(data)


def test_an_emptied_or_replaced_database_is_damage_not_a_new_node(home):
    port = free_port()
    proc = start_server(home, port)
    assert stop(proc)  # the home has served: it had a real database
    db = home / "edge-node.db"
    db.write_bytes(b"")  # a disk fault or a careless copy leaves 0 bytes
    result = status(home)
    assert result.returncode == DB_CORRUPT and "0 bytes" in result.stderr
    for command in (["up", "--port", str(port)], ["serve", "--port", str(port)]):
        refused = edge_node(home, *command)
        assert refused.returncode == DB_CORRUPT, refused.stdout + refused.stderr
        assert "password" not in refused.stdout  # no new admin made over the lost data
        assert db.read_bytes() == b""
    db.unlink()
    db.mkdir()
    assert status(home).returncode == DB_CORRUPT


def test_no_home_has_its_own_code(tmp_path):
    result = status(tmp_path / "nowhere")
    assert result.returncode == NO_HOME and "no node home" in result.stderr
    serve = edge_node(tmp_path / "nowhere", "serve")
    assert serve.returncode == NO_HOME
    assert not (tmp_path / "nowhere" / "edge-node.db").exists()


def test_taken_port_exits_with_its_own_code(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        result = edge_node(home, "serve", "--port", str(s.getsockname()[1]))
    assert result.returncode == PORT_TAKEN and "is the port taken" in result.stderr
    assert status(home).returncode == STOPPED  # a refused start is not an unclean stop


def test_nearly_full_disk_refuses_to_start(home):
    result = edge_node(home, "serve", "--port", str(free_port()),
                       env={**ENV, "EDGE_NODE_MIN_FREE_MB": str(10 ** 12)})
    assert result.returncode == DISK_FULL
    assert "MB free on the disk" in result.stderr and "min_free_mb" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _without_root_override() -> list[str]:
    # root writes anywhere; drop the capability so folder permissions apply as for a user
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: cannot make a folder unwritable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]


def test_home_not_writable_has_its_own_code(home):
    prefix = _without_root_override()
    home.chmod(0o500)
    try:
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "edge_node", "--home", str(home), "serve", "--port",
             str(free_port())], capture_output=True, text=True, timeout=60, env=ENV)
    finally:
        home.chmod(0o700)
    assert result.returncode == HOME_NOT_WRITABLE, result.stderr
    assert "is not writable" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_folder_in_place_of_the_lock_file_is_one_line_not_a_traceback(home):
    lock = home / "edge-node.lock"
    lock.unlink()
    lock.mkdir()  # a careless copy or a sync tool turned the lock file into a folder
    result = status(home)
    assert result.returncode == LOCKED, result.stderr  # holder unknown: no second server
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "edge-node.lock is a folder" in result.stderr and "remove that folder" in result.stderr
    shown = json.loads(status(home, "--json").stdout)
    assert shown["exit_code"] == LOCKED and shown["state"] == "lock-unknown"
    assert "is a folder" in shown["message"]
    for command in (["serve", "--port", str(free_port())], ["up", "--port", str(free_port())],
                    ["init"]):
        refused = edge_node(home, *command)
        assert refused.returncode == HOME_NOT_WRITABLE, refused.stderr  # "a file in the way"
        assert "Traceback" not in refused.stderr
        assert refused.stderr.strip().splitlines() == [refused.stderr.strip()]
        assert "edge-node.lock is a folder" in refused.stderr
        assert "password" not in refused.stdout
    lock.rmdir()
    assert status(home).returncode == STOPPED  # removing it is the whole repair


def test_an_unreadable_lock_file_is_one_line_not_a_traceback(home):
    prefix = _without_root_override()
    lock = home / "edge-node.lock"
    lock.chmod(0o000)
    try:
        result = subprocess.run([*prefix, sys.executable, "-m", "edge_node", "--home", str(home),
                                 "status"], capture_output=True, text=True, timeout=60, env=ENV)
        refused = subprocess.run([*prefix, sys.executable, "-m", "edge_node", "--home",
                                  str(home), "serve", "--port", str(free_port())],
                                 capture_output=True, text=True, timeout=60, env=ENV)
    finally:
        lock.chmod(0o644)
    assert result.returncode == LOCKED and "Traceback" not in result.stderr, result.stderr
    assert "edge-node.lock cannot be opened (Permission denied)" in result.stderr
    assert refused.returncode == HOME_NOT_WRITABLE and "Traceback" not in refused.stderr
    assert "cannot be opened (Permission denied)" in refused.stderr


def test_a_file_where_the_home_should_be_is_refused(tmp_path):
    (tmp_path / "blocker").write_text("not a folder", encoding="utf-8")
    result = edge_node(tmp_path / "blocker" / "home", "up", "--port", str(free_port()))
    assert result.returncode == HOME_NOT_WRITABLE and "Traceback" not in result.stderr


def test_lan_mode_listens_on_all_addresses_and_says_so(home):
    port = free_port()
    proc = start_server(home, port, "--lan")
    try:
        state = json.loads((home / "edge-node.state.json").read_text(encoding="utf-8"))
        assert state["host"] == "0.0.0.0"
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    finally:
        out = stop(proc)
    assert "LAN mode: listening on 0.0.0.0" in out
    proc = start_server(home, port)  # without --lan: loopback only, no LAN banner
    try:
        state = json.loads((home / "edge-node.state.json").read_text(encoding="utf-8"))
        assert state["host"] == "127.0.0.1"
    finally:
        assert "LAN mode" not in stop(proc)


def test_logs_rotate_in_the_home_and_hold_no_secret(home):
    port = free_port()
    env = {**ENV, "EDGE_NODE_LOG_MAX_BYTES": "10000", "EDGE_NODE_LOG_BACKUP_COUNT": "2",
           "EDGE_NODE_LOG_LEVEL": "DEBUG", "EDGE_NODE_LOGIN_RATE_PER_MINUTE": "100000"}
    added = edge_node(home, "user", "add", "canbo1", "--role", "clerk", "--password-stdin",
                      input="mat-khau-bi-mat-123\n")
    assert added.returncode == 0
    proc = start_server(home, port, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        token = requests.post(f"{base}/api/v1/session", timeout=5, json={
            "username": "canbo1", "password": "mat-khau-bi-mat-123"}).json()["token"]
        assert requests.get(f"{base}/api/v1/dossiers", timeout=5, headers={
            "Authorization": f"Bearer {token}"}).status_code == 200
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (home / "logs" / "edge-node.log.2").exists():
            # refused logins are logged (who, from where), never with the password typed
            requests.post(f"{base}/api/v1/session", timeout=5, json={
                "username": "canbo1", "password": "sai-mat-khau-bi-mat"})
    finally:
        stop(proc)
    logs = sorted((home / "logs").iterdir())
    assert [p.name for p in logs] == ["edge-node.log", "edge-node.log.1", "edge-node.log.2"]
    assert all(p.stat().st_size <= 10_000 for p in logs)
    text = "".join(p.read_text(encoding="utf-8") for p in logs)
    assert "login refused (locked) for user 'canbo1'" in text
    for secret in ("mat-khau-bi-mat-123", "sai-mat-khau-bi-mat", token,
                   (home / "secret_key").read_bytes().hex()):
        assert secret not in text


def test_log_redaction_masks_passwords_tokens_and_codes():
    from edge_node.logs import redact

    line = ("POST body password=hunter2&x=1 token: abc.def code='K7Q-2M' "
            "Authorization: Bearer eyJhbGciOi.x-y_z")
    masked = redact(line)
    for secret in ("hunter2", "abc.def", "K7Q-2M", "eyJhbGciOi.x-y_z"):
        assert secret not in masked
    assert "x=1" in masked and "password=***" in masked


def test_after_a_clean_stop_auto_reads_only_the_header_and_full_reads_everything(home):
    port = free_port()
    stop(start_server(home, port))
    db = home / "edge-node.db"
    damaged = damage(db)
    # auto, after a clean stop: header and schema only, so the node starts on a big database
    # at once; the damaged page is found by status (and backups) rather than at start
    proc = start_server(home, port)
    stop(proc)
    assert db.read_bytes()[4096 * 3:4096 * 4] == damaged[4096 * 3:4096 * 4]
    assert status(home).returncode == DB_CORRUPT
    full = edge_node(home, "serve", "--port", str(port),
                     env={**ENV, "EDGE_NODE_START_CHECK": "full"})
    assert full.returncode == DB_CORRUPT and "is damaged" in full.stderr
    # after an unclean stop, auto checks every page again
    state = json.loads((home / "edge-node.state.json").read_text(encoding="utf-8"))
    state["state"] = "serving"
    (home / "edge-node.state.json").write_text(json.dumps(state), encoding="utf-8")
    auto = edge_node(home, "serve", "--port", str(port))
    assert auto.returncode == DB_CORRUPT and "is damaged" in auto.stderr
