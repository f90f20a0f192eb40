"""install/linux/install.sh and uninstall.sh for real, in a throwaway prefix.

The scripts build a real virtualenv, install the node from a wheelhouse (the
project's wheel built here, offline), initialise a real home and write the
systemd unit; only ``systemctl`` is left out (--no-systemctl). Dependencies
come from the test interpreter through --system-site-packages, because this
machine has no network; the hash check of the lock is exercised with a small
wheel made here, once with the right sha256 and once with a wrong one.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

INSTALL = REPO / "install" / "linux" / "install.sh"
UNINSTALL = REPO / "install" / "linux" / "uninstall.sh"
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith(("EDGE_NODE_", "PIP_"))},
       "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_CONFIG_FILE": os.devnull}


def make_wheel(folder: Path, name: str = "edge_test_dummy", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, so the hash-locked path runs without a network."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{n},sha256={digest(d)},{len(d)}\n" for n, d in files.items())
    record += f"{dist}/RECORD,,\n"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for n, d in files.items():
            zf.writestr(n, d)
        zf.writestr(f"{dist}/RECORD", record)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheelhouse")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(folder), str(REPO)],
                           capture_output=True, text=True, timeout=300, env=ENV)
    assert built.returncode == 0, built.stderr[-2000:]
    dummy = make_wheel(folder)
    lock = folder.parent / "test.lock"
    lock.write_text(f"edge-test-dummy==1.0 --hash=sha256:{sha256(dummy)}\n", encoding="utf-8")
    return folder, lock


def paths(tmp_path: Path) -> dict:
    return {"prefix": tmp_path / "opt", "home": tmp_path / "var" / "edge-node",
            "unit-dir": tmp_path / "systemd", "bin-dir": tmp_path / "bin"}


def install(tmp_path, wheelhouse_dir, lock, *extra, **kw):
    p = paths(tmp_path)
    args = ["sh", str(INSTALL), "--no-systemctl", "--system-site-packages",
            "--python", sys.executable, "--user", _me(), "--lock", str(lock)]
    for key, value in p.items():
        args += [f"--{key}", str(value)]
    if wheelhouse_dir is not None:
        args += ["--wheelhouse", str(wheelhouse_dir)]
    return subprocess.run([*args, *extra], capture_output=True, text=True, timeout=300,
                          env=ENV, **kw)


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_install_upgrade_and_uninstall_in_a_throwaway_prefix(tmp_path, wheelhouse):
    folder, lock = wheelhouse
    p = paths(tmp_path)
    first = install(tmp_path, folder, lock, "--port", "8765")
    assert first.returncode == 0, first.stderr + first.stdout
    # the URL and the first admin password, printed once
    assert "Open: http://127.0.0.1:8765/" in first.stdout
    password = re.search(r"First login: username admin, password (\S+)", first.stdout).group(1)
    home = p["home"]
    assert (home / "edge-node.db").exists() and oct(home.stat().st_mode & 0o777) == "0o700"
    assert "port = 8765" in (home / "config.toml").read_text(encoding="utf-8")
    venv = p["prefix"] / "venv"
    assert venv.is_symlink()
    first_venv = venv.resolve()
    # the hash-locked dependency and the node are in the venv; the node runs from there
    check = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import edge_test_dummy, edge_node; print(edge_node.__file__)"],
                           capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert check.returncode == 0 and f"{venv}/lib/" in check.stdout, check.stderr
    # the unit runs the venv's python with the home, restarts on failure, is hardened
    unit = (p["unit-dir"] / "edge-node.service").read_text(encoding="utf-8")
    for line in (f"ExecStart={venv}/bin/python -m edge_node serve", "Restart=on-failure",
                 "TimeoutStopSec=30", "NoNewPrivileges=yes", "ProtectSystem=strict",
                 f"ReadWritePaths={home}", "ProtectHome=yes", "PrivateTmp=yes",
                 f"Environment=EDGE_NODE_HOME={home}", "Environment=MALLOC_ARENA_MAX=2",
                 "WantedBy=multi-user.target"):
        assert line in unit, line
    # the admin command knows the home
    status = subprocess.run([str(p["bin-dir"] / "edge-node"), "status"], capture_output=True,
                            text=True, env=ENV, cwd=tmp_path)
    assert status.returncode == 3 and "never served" in status.stdout, status.stderr

    # upgrade in place, this time building the node from the source tree offline
    db_before = (home / "edge-node.db").read_bytes()
    again = install(tmp_path, _deps_only(tmp_path, folder), lock)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "upgraded" in again.stdout and "First login" not in again.stdout
    assert password not in again.stdout and "Open: http://127.0.0.1:8765/" in again.stdout
    assert venv.resolve() != first_venv and first_venv.exists()  # previous kept for rollback
    assert (home / "edge-node.db").read_bytes() == db_before  # the data is kept

    # a lock whose hash does not match refuses the install and changes nothing
    bad = tmp_path / "bad.lock"
    bad.write_text("edge-test-dummy==1.0 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    current = venv.resolve()
    refused = install(tmp_path, folder, bad)
    assert refused.returncode != 0 and "nothing changed" in refused.stderr
    assert "HASHES" in refused.stdout + refused.stderr
    assert venv.resolve() == current
    assert sorted(x.name for x in (p["prefix"] / "venvs").iterdir()) == sorted(
        {first_venv.name, current.name})

    # uninstall keeps the data; --purge removes it
    kept = subprocess.run(["sh", str(UNINSTALL), "--no-systemctl", "--prefix", str(p["prefix"]),
                           "--home", str(home), "--unit-dir", str(p["unit-dir"]), "--bin-dir",
                           str(p["bin-dir"]), "--user", _me()], capture_output=True, text=True,
                          env=ENV, timeout=120)
    assert kept.returncode == 0, kept.stderr
    assert not p["prefix"].exists() and not (p["unit-dir"] / "edge-node.service").exists()
    assert not (p["bin-dir"] / "edge-node").exists()
    assert (home / "edge-node.db").read_bytes() == db_before and "kept" in kept.stdout
    # a reinstall finds the data: no new admin password, same database
    back = install(tmp_path, folder, lock)
    assert back.returncode == 0 and "First login" not in back.stdout, back.stderr
    # --purge makes a last verified backup (edge-node backup), then deletes the home
    saved = tmp_path / "saved"
    saved.mkdir()
    purged = subprocess.run(["sh", str(UNINSTALL), "--no-systemctl", "--prefix",
                             str(p["prefix"]), "--home", str(home), "--unit-dir",
                             str(p["unit-dir"]), "--bin-dir", str(p["bin-dir"]), "--user", _me(),
                             "--purge", "--yes", "--backup-dir", str(saved)],
                            capture_output=True, text=True, env=ENV, timeout=120)
    assert purged.returncode == 0, purged.stderr
    assert not home.exists() and not p["prefix"].exists()
    last = list(saved.glob("edge-node-before-purge-*.zip"))
    assert len(last) == 1 and "edge-node.db" in zipfile.ZipFile(last[0]).namelist()


def _deps_only(tmp_path: Path, folder: Path) -> Path:
    """A wheelhouse without the node's wheel: install.sh then builds it from the source."""
    deps = tmp_path / "deps-only"
    deps.mkdir()
    for wheel in folder.glob("edge_test_dummy-*.whl"):
        shutil.copy(wheel, deps)
    return deps


def test_lan_install_and_a_unit_that_passes_systemd_analyze_verify(tmp_path, wheelhouse):
    folder, lock = wheelhouse
    done = install(tmp_path, folder, lock, "--lan")
    assert done.returncode == 0, done.stderr
    assert "LAN mode: other PCs open http://<this PC's address>:8080/" in done.stdout
    config = (paths(tmp_path)["home"] / "config.toml").read_text(encoding="utf-8")
    assert "lan = true" in config
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed (Debian: apt install systemd)")
    unit = paths(tmp_path)["unit-dir"] / "edge-node.service"
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60, env=ENV)
    problems = [line for line in verify.stderr.splitlines() if "edge-node.service" in line]
    assert verify.returncode == 0 and not problems, verify.stderr


def test_install_refuses_an_old_python(tmp_path, wheelhouse):
    folder, lock = wheelhouse
    fake = tmp_path / "python3.9"
    fake.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")
    fake.chmod(0o755)
    p = paths(tmp_path)
    result = subprocess.run(["sh", str(INSTALL), "--no-systemctl", "--python", str(fake),
                             "--prefix", str(p["prefix"]), "--home", str(p["home"])],
                            capture_output=True, text=True, env=ENV, timeout=60)
    assert result.returncode != 0 and "older than 3.11" in result.stderr
    assert not p["prefix"].exists()
