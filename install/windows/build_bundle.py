"""Build the Windows release folder of the commune edge node, on any OS.

    python install/windows/build_bundle.py \\
        --python-zip python-3.11.9-embed-amd64.zip --winsw WinSW-x64.exe \\
        --out dist/EdgeNode-0.1.0-win64

Inputs you download once (never inside tests): the official *embeddable* Python
3.11 for Windows x64 (a zip) and WinSW v2 (``WinSW-x64.exe`` or ``WinSW.NET461.exe``).
The wheels come from ``--wheelhouse DIR`` when given, otherwise from PyPI with
``pip download --platform win_amd64 --python-version 3.11 --only-binary=:all:``,
checked against the sha256 hashes of install/requirements.lock.

The folder it writes needs no network on the commune PC::

    python/          embeddable Python, with the node and its dependencies in
                     Lib/site-packages (python311._pth lists that folder)
    wheelhouse/      the exact wheels installed there
    EdgeNode.exe     WinSW, renamed so that it reads EdgeNode.xml beside it
    EdgeNode.xml     the service definition for the default home (install.ps1 rewrites it)
    winsw.py, install.ps1, uninstall.ps1, requirements.lock
    SHA256SUMS.txt   to check a copy carried on a USB stick
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from winsw import SERVICE_ID, service_xml  # noqa: E402

PYTHON_VERSION = "3.11"
PLATFORM = ["--platform", "win_amd64", "--python-version", PYTHON_VERSION,
            "--implementation", "cp", "--only-binary=:all:"]


class BundleError(Exception):
    """The inputs cannot make a release folder (message says which and why)."""


def _pip(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise BundleError(f"pip {args[0]} failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")


def unpack_python(python_zip: Path, dest: Path) -> None:
    """Unpack the embeddable Python and let it import from Lib/site-packages."""
    try:
        with zipfile.ZipFile(python_zip) as zf:
            names = zf.namelist()
            pth = [n for n in names if re.fullmatch(r"python3\d+\._pth", n)]
            if "python.exe" not in names or len(pth) != 1:
                raise BundleError(f"{python_zip} is not an embeddable Python for Windows "
                                  "(no python.exe and python3XX._pth at its top)")
            wanted = "python" + PYTHON_VERSION.replace(".", "") + "._pth"
            if pth[0] != wanted:
                raise BundleError(f"{python_zip} is Python {pth[0][6]}.{pth[0][7:-5]}; the "
                                  f"bundle needs {PYTHON_VERSION} (the wheels are built for it)")
            zf.extractall(dest)
    except zipfile.BadZipFile:
        raise BundleError(f"{python_zip} is not a zip file") from None
    pth_file = dest / pth[0]
    lines = [line.strip() for line in pth_file.read_text(encoding="utf-8").splitlines()]
    lines = ["import site" if line == "#import site" else line for line in lines]
    if "Lib\\site-packages" not in lines:
        lines.insert(lines.index(".") + 1 if "." in lines else len(lines), "Lib\\site-packages")
    if "import site" not in lines:
        lines.append("import site")
    pth_file.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    (dest / "Lib" / "site-packages").mkdir(parents=True, exist_ok=True)


def fill_wheelhouse(dest: Path, lock: Path, wheelhouse: Path | None,
                    node_wheel: Path | None) -> Path:
    """Put the locked dependency wheels and the node's wheel in *dest*; return the node wheel."""
    dest.mkdir(parents=True)
    if wheelhouse:
        for wheel in sorted(wheelhouse.glob("*.whl")):
            shutil.copy2(wheel, dest)
    else:
        _pip("download", "--require-hashes", "--no-deps", *PLATFORM, "-r", str(lock),
             "-d", str(dest))
    if node_wheel:
        shutil.copy2(node_wheel, dest)
    if not list(dest.glob("commune_edge_node-*.whl")):
        _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(dest), str(REPO))
    return max(dest.glob("commune_edge_node-*.whl"))


def install_into(site: Path, wheelhouse: Path, lock: Path, node_wheel: Path) -> None:
    """Install the locked dependencies (hash-checked) and the node for Windows into *site*."""
    common = ["install", "--no-index", "--find-links", str(wheelhouse), "--target", str(site),
              "--no-compile", *PLATFORM]
    _pip(*common, "--require-hashes", "--no-deps", "-r", str(lock))
    _pip(*common, "--no-deps", str(node_wheel))
    shutil.rmtree(site / "bin", ignore_errors=True)  # POSIX launchers are of no use there


def write_checksums(out: Path) -> None:
    lines = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        if rel != "SHA256SUMS.txt":
            lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {rel}")
    (out / "SHA256SUMS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def build(python_zip: Path, winsw_exe: Path, out: Path, *, lock: Path,
          wheelhouse: Path | None = None, node_wheel: Path | None = None) -> Path:
    """Write the release folder *out* (which must not exist yet); return it."""
    for path, what in ((python_zip, "embeddable Python zip"), (winsw_exe, "WinSW exe"),
                       (lock, "requirements lock")):
        if not path.is_file():
            raise BundleError(f"no {what} at {path}")
    if out.exists():
        raise BundleError(f"{out} already exists; give a new folder")
    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        unpack_python(python_zip, staging / "python")
        node = fill_wheelhouse(staging / "wheelhouse", lock, wheelhouse, node_wheel)
        install_into(staging / "python" / "Lib" / "site-packages", staging / "wheelhouse",
                     lock, node)
        shutil.copy2(winsw_exe, staging / f"{SERVICE_ID}.exe")
        (staging / f"{SERVICE_ID}.xml").write_text(service_xml(), encoding="utf-8")
        for name in ("winsw.py", "install.ps1", "uninstall.ps1"):
            shutil.copy2(HERE / name, staging / name)
        shutil.copy2(lock, staging / "requirements.lock")
        write_checksums(staging)
        staging.rename(out)  # the folder appears only once complete
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the Windows release folder.")
    parser.add_argument("--python-zip", type=Path, required=True,
                        help="python-3.11.x-embed-amd64.zip from python.org")
    parser.add_argument("--winsw", type=Path, required=True, help="WinSW v2 executable")
    parser.add_argument("--out", type=Path, required=True, help="release folder to create")
    parser.add_argument("--lock", type=Path, default=REPO / "install" / "requirements.lock")
    parser.add_argument("--wheelhouse", type=Path,
                        help="folder of win_amd64/py3 wheels (default: download them)")
    parser.add_argument("--node-wheel", type=Path, help="the node's wheel (default: build it)")
    args = parser.parse_args(argv)
    try:
        out = build(args.python_zip, args.winsw, args.out, lock=args.lock,
                    wheelhouse=args.wheelhouse, node_wheel=args.node_wheel)
    except BundleError as exc:
        print(f"build_bundle: {exc}", file=sys.stderr)
        return 1
    print(f"Release folder ready: {out}\nCopy it to the commune PC and run, in an elevated "
          f"PowerShell: powershell -ExecutionPolicy Bypass -File {out.name}\\install.ps1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
