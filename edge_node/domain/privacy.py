"""Masking of citizen identifiers for lists, exports and reports.

Only a permitted officer sees a full ID number or birth date, and only on one
dossier; everywhere else the number keeps its first four and last two digits
(``0010******45``), enough to tell two applicants apart at the counter.
"""

from __future__ import annotations

import re


def mask_id(number: str | None) -> str:
    """``001090001245`` → ``0010******45``; short or empty input is hidden entirely."""
    text = re.sub(r"\s", "", number or "")
    if len(text) < 8:
        return "*" * len(text)
    return text[:4] + "*" * (len(text) - 6) + text[-2:]


def mask_birth_date(value: str | None) -> str:
    """Keep only the year: ``1990-05-17`` or ``17/05/1990`` → ``**/**/1990``."""
    text = (value or "").strip()
    year = re.search(r"(\d{4})", text)
    return f"**/**/{year.group(1)}" if year else ("*" * len(text))
