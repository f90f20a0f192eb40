"""The Windows release folder, built here from stand-ins for the downloads.

Windows itself cannot run here: the embeddable Python zip and WinSW are
stand-in files with the real layout, the wheelhouse holds the node's real
wheel and a small hash-locked wheel. What is checked is what the builder
promises: the node is installed for the bundled Python, the Python finds it,
the WinSW XML is valid and says the right things, nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile

import pytest

from tests.conftest import REPO
from tests.integration.test_install import ENV, wheelhouse  # noqa: F401 - a shared fixture

BUILD = REPO / "install" / "windows" / "build_bundle.py"
EMBED_PTH = ("python311.zip\r\n.\r\n\r\n# Uncomment to run site.main() automatically\r\n"
             "#import site\r\n")


def fake_embeddable(path, pth_name="python311._pth"):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("python.exe", b"MZ stand-in")
        zf.writestr("python311.zip", b"PK stand-in")
        zf.writestr(pth_name, EMBED_PTH)
    return path


def build(tmp_path, folder, lock, *extra, python_zip=None):
    winsw = tmp_path / "WinSW-x64.exe"
    winsw.write_bytes(b"MZ winsw stand-in")
    python_zip = python_zip or fake_embeddable(tmp_path / "python-3.11.9-embed-amd64.zip")
    return subprocess.run(
        [sys.executable, str(BUILD), "--python-zip", str(python_zip), "--winsw", str(winsw),
         "--out", str(tmp_path / "EdgeNode-win64"), "--wheelhouse", str(folder), "--lock",
         str(lock), *extra], capture_output=True, text=True, timeout=300,
        env={**ENV, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"})


def parse_service(xml_text: str) -> ET.Element:
    root = ET.fromstring(xml_text.split("\n", 1)[1])  # ElementTree refuses the declaration str
    assert root.tag == "service"
    return root


def test_bundle_carries_python_with_the_node_and_a_valid_service(tmp_path, wheelhouse):  # noqa: F811
    folder, lock = wheelhouse
    done = build(tmp_path, folder, lock)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "EdgeNode-win64"
    site = out / "python" / "Lib" / "site-packages"
    assert (site / "edge_node" / "cli.py").exists() and (site / "sync" / "hub" / "app.py").exists()
    assert (site / "edge_node" / "static" / "css" / "app.css").exists()
    assert (site / "edge_test_dummy.py").exists()  # the hash-locked dependency
    assert not (site / "bin").exists()
    pth = (out / "python" / "python311._pth").read_text(encoding="utf-8").splitlines()
    assert "Lib\\site-packages" in pth and "import site" in pth and "#import site" not in pth
    assert (out / "EdgeNode.exe").read_bytes() == b"MZ winsw stand-in"
    for name in ("install.ps1", "uninstall.ps1", "winsw.py", "requirements.lock"):
        assert (out / name).is_file(), name
    assert list((out / "wheelhouse").glob("commune_edge_node-*.whl"))
    # the checksums a technician can verify after carrying the folder on a USB stick
    sums = dict(reversed(line.split("  ", 1)) for line in
                (out / "SHA256SUMS.txt").read_text(encoding="utf-8").splitlines())
    assert hashlib.sha256((out / "EdgeNode.exe").read_bytes()).hexdigest() == \
        sums["EdgeNode.exe"]
    assert "python/Lib/site-packages/edge_node/cli.py" in sums
    # the bundled site-packages really holds an importable node (checked with this Python)
    check = subprocess.run([sys.executable, "-I", "-c",
                            f"import sys; sys.path.insert(0, {str(site)!r}); "
                            "import edge_node.config, edge_node.exitcodes; "
                            "print(edge_node.config.__file__)"],
                           capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert check.returncode == 0 and str(site) in check.stdout, check.stderr

    service = parse_service((out / "EdgeNode.xml").read_text(encoding="utf-8"))
    assert service.findtext("id") == "EdgeNode"
    assert service.findtext("executable") == r"%BASE%\python\python.exe"
    assert service.findtext("arguments") == "-m edge_node serve"
    env = {e.get("name"): e.get("value") for e in service.findall("env")}
    assert env["EDGE_NODE_HOME"] == r"C:\ProgramData\EdgeNode" and env["PYTHONUTF8"] == "1"
    assert service.findtext("startmode") == "Automatic"
    assert service.findtext("delayedAutoStart") == "true"
    assert [f.get("action") for f in service.findall("onfailure")] == ["restart", "restart"]
    assert service.findtext("stoptimeout") == "30 sec"
    assert service.findtext("serviceaccount/user") == "LocalService"
    assert service.findtext("logpath") == r"C:\ProgramData\EdgeNode\logs"
    assert service.find("log").get("mode") == "roll-by-size"


def test_service_xml_for_another_home_escapes_and_round_trips(tmp_path):
    home = r"D:\Dữ liệu & <Một cửa>\EdgeNode"
    run = subprocess.run([sys.executable, str(REPO / "install" / "windows" / "winsw.py"),
                          "--home", home, "--out", str(tmp_path / "EdgeNode.xml")],
                         capture_output=True, text=True, env=ENV)
    assert run.returncode == 0, run.stderr
    service = parse_service((tmp_path / "EdgeNode.xml").read_text(encoding="utf-8"))
    assert service.findtext("workingdirectory") == home
    assert {e.get("name"): e.get("value") for e in service.findall("env")}[
        "EDGE_NODE_HOME"] == home


@pytest.mark.parametrize("problem,words", [("python312", "needs 3.11"),
                                           ("not-zip", "not a zip file"),
                                           ("no-pth", "not an embeddable Python")])
def test_bundle_refuses_the_wrong_python_and_leaves_nothing(tmp_path, wheelhouse,  # noqa: F811
                                                            problem, words):
    folder, lock = wheelhouse
    bad = tmp_path / "python.zip"
    if problem == "python312":
        fake_embeddable(bad, "python312._pth")
    elif problem == "not-zip":
        bad.write_bytes(b"this is an HTML error page, not a zip")
    else:
        with zipfile.ZipFile(bad, "w") as zf:
            zf.writestr("readme.txt", "hello")
    done = build(tmp_path, folder, lock, python_zip=bad)
    assert done.returncode == 1 and words in done.stderr and "Traceback" not in done.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("EdgeNode-win64")]


def test_bundle_refuses_a_wheel_that_does_not_match_the_lock(tmp_path, wheelhouse):  # noqa: F811
    folder, _ = wheelhouse
    bad = tmp_path / "bad.lock"
    bad.write_text("edge-test-dummy==1.0 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    done = build(tmp_path, folder, bad)
    assert done.returncode == 1 and "HASHES" in done.stderr
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("EdgeNode-win64")]


def test_scripts_say_what_was_not_tested_on_windows():
    for name in ("install.ps1", "uninstall.ps1"):
        text = (REPO / "install" / "windows" / name).read_text(encoding="utf-8")
        assert "#Requires -RunAsAdministrator" in text and "NOT TESTED ON WINDOWS" in text
