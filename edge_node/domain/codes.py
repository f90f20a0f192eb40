"""Dossier codes: ``{agency_id}-{yyMMdd}-{seq:04d}`` (ND 118 art 28).

The node is the only issuer under its own agency identifier, so daily
sequences never collide offline. After 9,999 dossiers a day the number
simply grows to five digits.
"""

from __future__ import annotations

import re
from datetime import date

AGENCY_RE = re.compile(r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[A-Z][0-9]{2}$")
DOSSIER_CODE_RE = re.compile(AGENCY_RE.pattern[:-1] + r"-[0-9]{6}-[0-9]{4,}$")


def dossier_code(agency_id: str, day: date, seq: int) -> str:
    """Format a dossier code for the *seq*-th dossier of local *day*."""
    if not AGENCY_RE.match(agency_id):
        raise ValueError(f"bad agency identifier {agency_id!r}")
    if seq < 1:
        raise ValueError("sequence starts at 1")
    return f"{agency_id}-{day:%y%m%d}-{seq:04d}"


def code_counter(code: str) -> tuple[str, str, int] | None:
    """``(counter prefix, local day ISO, number)`` of a code this node issued, else None.

    Dossier codes count per agency identifier, slip numbers (``PN-yyMMdd-NNNN``)
    per ``PN``; both restart each local day.
    """
    parts = code.rsplit("-", 2)
    if len(parts) != 3 or not (parts[0] == "PN" or AGENCY_RE.match(parts[0])):
        return None
    prefix, day, number = parts
    if not (len(day) == 6 and day.isdigit() and number.isdigit()):
        return None
    try:
        when = date(2000 + int(day[:2]), int(day[2:4]), int(day[4:]))
    except ValueError:
        return None
    return prefix, when.isoformat(), int(number)
