"""The WinSW v2 service definition (EdgeNode.xml) of the commune edge node on Windows.

Used by build_bundle.py (a default EdgeNode.xml in the release folder) and by
install.ps1, which runs it with the bundled Python to write the XML for the
chosen home folder:

    python\\python.exe winsw.py --home C:\\ProgramData\\EdgeNode --out EdgeNode.xml

WinSW expands ``%BASE%`` to the folder of EdgeNode.exe (the renamed WinSW).
Standard library only: the embeddable Python runs it before anything else.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

SERVICE_ID = "EdgeNode"
DEFAULT_HOME = r"C:\ProgramData\EdgeNode"


def service_xml(home: str = DEFAULT_HOME, service_id: str = SERVICE_ID,
                python: str = r"%BASE%\python\python.exe") -> str:
    """Return the WinSW v2 XML that runs ``python -m edge_node serve`` as a service.

    Automatic start, delayed (the PC boots first, then the node); restart after a
    failure; 30 s for a clean stop (WinSW sends Ctrl+C, which the node handles like
    SIGTERM); runs as LocalService, not LocalSystem (install.ps1 gives that account
    the home folder); WinSW's own output log rolls by size in the home's logs folder.
    """
    root = ET.Element("service")

    def add(tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        element = ET.SubElement(root, tag, attrs)
        if text is not None:
            element.text = text
        return element

    add("id", service_id)
    add("name", "Commune edge node")
    add("description", "Commune edge node: One-stop dossiers, offline first "
                       "(http://127.0.0.1:8080/ by default).")
    add("executable", python)
    add("arguments", "-m edge_node serve")
    add("workingdirectory", home)
    add("env", name="EDGE_NODE_HOME", value=home)
    add("env", name="PYTHONUNBUFFERED", value="1")
    add("env", name="PYTHONUTF8", value="1")  # Vietnamese text on a service's console
    add("startmode", "Automatic")
    add("delayedAutoStart", "true")
    add("stoptimeout", "30 sec")
    add("onfailure", action="restart", delay="10 sec")
    add("onfailure", action="restart", delay="60 sec")
    add("resetfailure", "1 hour")
    account = add("serviceaccount")
    ET.SubElement(account, "domain").text = "NT AUTHORITY"
    ET.SubElement(account, "user").text = "LocalService"
    add("logpath", home + "\\logs")
    log = add("log", mode="roll-by-size")
    ET.SubElement(log, "sizeThreshold").text = "10240"  # KB
    ET.SubElement(log, "keepFiles").text = "5"
    ET.indent(root, space="  ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            "<!-- Written by install/windows/winsw.py; run install.ps1 again to change it. -->\n"
            + ET.tostring(root, encoding="unicode") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=DEFAULT_HOME, help="node home folder (the data)")
    parser.add_argument("--service-id", default=SERVICE_ID)
    parser.add_argument("--out", type=Path, help="file to write (default: print)")
    args = parser.parse_args(argv)
    xml = service_xml(args.home, args.service_id)
    if args.out:
        args.out.write_text(xml, encoding="utf-8")
    else:
        sys.stdout.write(xml)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
