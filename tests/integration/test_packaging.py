"""The package as 'pip install .' lays it out, away from the source tree, still works."""

import os
import subprocess
import sys
import zipfile

from tests.conftest import REPO

OFFLINE = {**{k: v for k, v in os.environ.items() if not k.startswith(("EDGE_NODE_",
                                                                         "SYNC_HUB_"))},
           "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_the_wheel_carries_every_package_template_and_asset(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                            "--no-build-isolation", "-w", str(tmp_path / "whl"), str(REPO)],
                           capture_output=True, text=True, timeout=300, env=OFFLINE)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "whl").glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("edge_node/cli.py", "edge_node/seed/catalog.json",
                 "edge_node/templates/forms/mau01.html", "edge_node/static/css/app.css",
                 "edge_node/static/js/app.js", "sync/protocol.py", "sync/hub/app.py",
                 "sync/hub/templates/base.html", "sync/hub/templates/hub/nodes.html"):
        assert path in names, path
    # every Python package of the source tree is in the wheel
    for folder in ("edge_node", "sync"):
        for init in (REPO / folder).rglob("__init__.py"):
            assert str(init.relative_to(REPO)).replace(os.sep, "/") in names, init
    site = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                                str(site), str(wheel)], capture_output=True, text=True,
                               timeout=300, env=OFFLINE)
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {**OFFLINE, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-m", "edge_node", "--home", str(tmp_path / "home"),
                          "init"], capture_output=True, text=True, timeout=120, env=env,
                         cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "username: admin" in run.stdout
    check = ("import edge_node, sync.hub.app as h; assert str(edge_node.__file__).startswith("
             f"{str(site)!r}); from sync.hub.config import load_hub_config; "
             f"c = h.create_hub_app(load_hub_config({str(tmp_path / 'hub')!r}, environ={{}})); "
             "r = c.test_client().get('/login'); assert r.status_code == 200, r.status_code; "
             "assert c.test_client().get('/static/css/app.css').status_code == 200")
    hub = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         timeout=120, env=env, cwd=tmp_path)
    assert hub.returncode == 0, hub.stderr[-2000:]
