"""Read procedure catalogs in the formats the node accepts, into one shape.

Three shapes are recognised:

* the node's own ``edge-node-catalog/1`` (the seed catalog, exports);
* the reference crawl of the national TTHC database (``{"procedures": [{"ma_thu_tuc": …}]}``);
* the DVCQG ``LayThuTuc`` answer (``{"result": [{"MATTHC", "TENTTHC", …}]}``, or a list of them).

Pure functions: no I/O beyond what the caller passes in.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from dataclasses import field as dc_field

from edge_node.domain.text import nfc

UNITS = ("working_days", "working_hours", "same_day", "calendar_days")
CODE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,59}$")
MAX_NAME = 1000
MAX_DOC = 500
MAX_DOCS = 100

# Units as the national portal writes them. A bare number (no unit) is how the
# portal shows many civil-status limits; we read it as working days and flag it.
_UNIT_WORDS = {
    "ngày làm việc": "working_days",
    "ngày": "calendar_days",
    "giờ": "working_hours",
    "giờ làm việc": "working_hours",
    "trong ngày": "same_day",
}


class CatalogError(ValueError):
    """The catalog file cannot be imported; nothing is changed."""


@dataclass
class Procedure:
    """One procedure as the node stores it."""

    code: str
    name: str
    field: str = ""
    level: str = ""
    time_limit_value: float | None = None
    time_limit_unit: str | None = None
    time_limit_inferred: bool = False
    fee_vnd: int | None = None
    fee_note: str = ""
    documents: list[str] = dc_field(default_factory=list)
    legal_basis: str = ""
    source: str = ""


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates
        return False
    return True


def _unit(word) -> tuple[str | None, bool]:
    if word is None or str(word).strip() == "":
        return "working_days", True
    key = nfc(str(word)).lower()
    if key in UNITS:
        return key, False
    if key in _UNIT_WORDS:
        return _UNIT_WORDS[key], False
    raise CatalogError(f"unknown time-limit unit {word!r}")


MAX_LIMIT_VALUE = 3650
MAX_FEE = 10**12


def _number(value) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise CatalogError(f"bad number {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip().replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return None
    if not math.isfinite(number) or number > MAX_LIMIT_VALUE:
        raise CatalogError(f"time limit out of range: {value!r}")
    return number if number > 0 else None


def _fee(value) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise CatalogError(f"bad fee {value!r} (whole đồng expected)")
    try:
        fee = int(value)
    except (TypeError, ValueError, OverflowError):
        raise CatalogError(f"bad fee {value!r}") from None
    if fee < 0:
        raise CatalogError(f"negative fee {value!r}")
    if fee > MAX_FEE:
        raise CatalogError(f"fee out of range {value!r}")
    return fee


def _docs(names) -> list[str]:
    if not isinstance(names, list):
        raise CatalogError("documents must be a list")
    seen: list[str] = []
    for name in names:
        text = nfc(str(name or ""))[:MAX_DOC]
        if text and text not in seen:
            seen.append(text)
    return seen[:MAX_DOCS]


def _check(proc: Procedure, where: str) -> Procedure:
    for text in (proc.code, proc.name, proc.field, proc.level, proc.fee_note, proc.legal_basis,
                 *proc.documents):
        if isinstance(text, str) and not _encodable(text):
            raise CatalogError(f"{where}: text with invalid characters")
    proc.code = nfc(proc.code or "")
    if not proc.code:
        raise CatalogError(f"{where}: procedure without a code")
    if not CODE_RE.match(proc.code):
        raise CatalogError(f"{where}: bad procedure code {proc.code!r}")
    proc.name = nfc(proc.name or "")[:MAX_NAME]
    if not proc.name:
        raise CatalogError(f"{where} ({proc.code}): procedure without a name")
    proc.field = nfc(proc.field or "")[:200]
    proc.level = nfc(proc.level or "")[:100]
    proc.fee_note = nfc(proc.fee_note or "")[:500]
    proc.legal_basis = nfc(proc.legal_basis or "")[:2000]
    if proc.time_limit_value is None:
        proc.time_limit_unit = None
        proc.time_limit_inferred = False
    return proc


def _from_native(items: list) -> list[Procedure]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CatalogError(f"procedure #{i + 1}: not an object")
        limit = item.get("time_limit") or {}
        value = _number(limit.get("value"))
        unit, inferred = _unit(limit.get("unit")) if value is not None else (None, False)
        out.append(_check(Procedure(
            code=str(item.get("code") or ""), name=str(item.get("name") or ""),
            field=str(item.get("field") or ""), level=str(item.get("level") or ""),
            time_limit_value=value, time_limit_unit=unit, time_limit_inferred=inferred,
            fee_vnd=_fee(item.get("fee_vnd")), fee_note=str(item.get("fee_note") or ""),
            documents=_docs(item.get("documents") or []),
            legal_basis=str(item.get("legal_basis") or ""), source="edge-node",
        ), f"procedure #{i + 1}"))
    return out


def _from_reference(items: list) -> list[Procedure]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CatalogError(f"procedure #{i + 1}: not an object")
        channels = [c for c in item.get("cach_thuc_thuc_hien") or [] if isinstance(c, dict)]
        # The counter channel's limit and fee are what a commune One-stop applies.
        direct = [c for c in channels if c.get("kenh_code") == "truc_tiep"]
        with_limit = [c for c in direct + channels if c.get("thoi_han") is not None]
        chosen = with_limit[0] if with_limit else (direct + channels + [{}])[0]
        value = _number(chosen.get("thoi_han"))
        unit, inferred = _unit(chosen.get("don_vi_thoi_han")) if value is not None else (None,
                                                                                         False)
        fee_source = (direct + channels + [{}])[0]
        docs = [g.get("ten_giay_to") for group in item.get("thanh_phan_ho_so") or []
                if isinstance(group, dict) for g in group.get("giay_to") or []
                if isinstance(g, dict)]
        levels = item.get("cap_thuc_hien") or []
        out.append(_check(Procedure(
            code=str(item.get("ma_thu_tuc") or ""), name=str(item.get("ten_thu_tuc") or ""),
            field=str(item.get("linh_vuc") or ""),
            level=", ".join(levels) if isinstance(levels, list) else str(levels),
            time_limit_value=value, time_limit_unit=unit, time_limit_inferred=inferred,
            fee_vnd=_fee(fee_source.get("phi_le_phi_vnd")),
            fee_note=str(fee_source.get("phi_le_phi_raw") or ""),
            documents=_docs(docs), legal_basis="", source="tthc-reference",
        ), f"procedure #{i + 1}"))
    return out


_KENH_DIRECT = {"1", 1, "Trực tiếp", "truc_tiep"}


def _from_lay_thu_tuc(items: list) -> list[Procedure]:
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise CatalogError(f"procedure #{i + 1}: not an object")
        times = []
        for channel in item.get("CACHTHUCTHUCHIEN") or []:
            if not isinstance(channel, dict):
                continue
            for t in channel.get("THOIGIAN") or []:
                if isinstance(t, dict):
                    times.append((channel.get("KENH") in _KENH_DIRECT, t))
        times.sort(key=lambda pair: not pair[0])
        with_limit = [t for _, t in times if _number(t.get("THOIGIANGIAIQUYET")) is not None]
        chosen = with_limit[0] if with_limit else (times[0][1] if times else {})
        value = _number(chosen.get("THOIGIANGIAIQUYET"))
        unit, inferred = _unit(chosen.get("DONVITINH")) if value is not None else (None, False)
        fees = [f for f in chosen.get("PHILEPHI") or [] if isinstance(f, dict)]
        fee = sum(_fee(f.get("SOTIEN")) or 0 for f in fees) if fees else None
        fields = [f for f in item.get("LINHVUCTHUCHIEN") or [] if isinstance(f, dict)]
        docs = [g.get("TENGIAYTO") for group in item.get("THANHPHANHOSO") or []
                if isinstance(group, dict) for g in group.get("GIAYTO") or []
                if isinstance(g, dict)]
        basis = [f"{b.get('SOVANBAN', '')} {b.get('TENVANBAN', '')}".strip()
                 for b in item.get("CANCUPHAPLY") or [] if isinstance(b, dict)]
        code = item.get("MATTHC") or item.get("MaTTHC") or item.get("MATHUTUC") or ""
        out.append(_check(Procedure(
            code=str(code), name=str(item.get("TENTTHC") or ""),
            field=str(fields[0].get("TENLINHVUC") or "") if fields else "",
            time_limit_value=value, time_limit_unit=unit, time_limit_inferred=inferred,
            fee_vnd=fee, fee_note="; ".join(str(f.get("MOTA") or "") for f in fees)[:500],
            documents=_docs(docs), legal_basis="; ".join(basis), source="dvcqg-laythutuc",
        ), f"procedure #{i + 1}"))
    return out


def parse_catalog(raw: bytes | str) -> tuple[str, str, list[Procedure]]:
    """Parse a catalog file's content.

    :returns: ``(format_name, label, procedures)``
    :raises CatalogError: when the content is not JSON, has no procedures, a
        record lacks a code or name, or codes repeat.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise CatalogError(f"not valid JSON: {str(exc)[:200]}") from None
    try:
        return _parse(data)
    except CatalogError:
        raise
    except (TypeError, AttributeError, ValueError, KeyError, OverflowError,
            RecursionError) as exc:
        # Any other shape problem: refuse the whole file with a readable reason.
        raise CatalogError(f"malformed catalog ({exc.__class__.__name__}: "
                           f"{str(exc)[:200]})") from None


def _parse(data) -> tuple[str, str, list[Procedure]]:
    label = ""
    if isinstance(data, dict) and data.get("format") == "edge-node-catalog/1":
        fmt, procs = "edge-node-catalog/1", _from_native(_as_list(data.get("procedures")))
        label = str(data.get("version") or "")
    elif isinstance(data, dict) and isinstance(data.get("procedures"), list):
        fmt, procs = "tthc-reference", _from_reference(data["procedures"])
        label = str((data.get("meta") or {}).get("source_commit") or "")[:40]
    elif isinstance(data, dict) and isinstance(data.get("result"), list):
        fmt, procs = "dvcqg-laythutuc", _from_lay_thu_tuc(data["result"])
    elif isinstance(data, dict) and "TENTTHC" in data:
        fmt, procs = "dvcqg-laythutuc", _from_lay_thu_tuc([data])
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        if all(isinstance(x.get("result"), list) for x in data):
            fmt, procs = "dvcqg-laythutuc", _from_lay_thu_tuc(
                [r for x in data for r in x["result"]])
        elif all("TENTTHC" in x for x in data):
            fmt, procs = "dvcqg-laythutuc", _from_lay_thu_tuc(data)
        else:
            raise CatalogError("unrecognised catalog format")
    else:
        raise CatalogError("unrecognised catalog format (expected edge-node-catalog/1, the "
                           "TTHC reference JSON or a DVCQG LayThuTuc answer)")
    if not procs:
        raise CatalogError("the catalog holds no procedures")
    seen: set[str] = set()
    for proc in procs:
        if proc.code in seen:
            raise CatalogError(f"procedure code {proc.code} appears twice")
        seen.add(proc.code)
    return fmt, label, procs


def _as_list(value) -> list:
    if not isinstance(value, list):
        raise CatalogError("'procedures' must be a list")
    return value
