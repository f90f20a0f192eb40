"""Catalog import and procedure search."""

from __future__ import annotations

import functools
from datetime import datetime
from importlib import resources
from pathlib import Path

import sqlite_utils

from edge_node.domain.catalog_formats import CatalogError, parse_catalog
from edge_node.domain.clock import to_iso
from edge_node.domain.text import accent_key, fold, words
from edge_node.store import audit, outbox
from edge_node.store import catalog as catalog_store
from edge_node.store.db import write_tx

MAX_CATALOG_BYTES = 64 * 1024 * 1024


def seed_catalog_bytes() -> bytes:
    """The project's own seed catalog of common commune procedures."""
    return resources.files("edge_node.seed").joinpath("catalog.json").read_bytes()


def import_catalog(db: sqlite_utils.Database, raw: bytes, *, now: datetime, actor: str,
                   source: str) -> dict:
    """Parse and upsert a catalog in one transaction, bumping the catalog version.

    A file that fails to parse raises :class:`CatalogError` before anything is
    written, so the old catalog stays intact.
    """
    if len(raw) > MAX_CATALOG_BYTES:
        raise CatalogError(f"file too large (over {MAX_CATALOG_BYTES // (1024 * 1024)} MB)")
    fmt, label, procs = parse_catalog(raw)
    with write_tx(db):
        result = apply_catalog(db, fmt, label, procs, now=now, actor=actor, source=source)
    return result


def apply_catalog(db: sqlite_utils.Database, fmt: str, label: str, procs: list, *,
                  now: datetime, actor: str, source: str) -> dict:
    """Upsert parsed procedures as a new catalog version (inside the caller's transaction)."""
    stamp = to_iso(now)
    version = catalog_store.add_version(db, source=f"{fmt}:{source}"[:300], label=label,
                                        count=len(procs), at=stamp, by=actor)
    for proc in procs:
        catalog_store.upsert(db, proc, version=version, at=stamp)
    detail = {"format": fmt, "procedures": len(procs), "version": version, "label": label}
    audit.append(db, at=stamp, actor=actor, action="catalog.import", obj=source[:200],
                 detail=detail)
    outbox.add(db, kind="catalog.imported", payload=detail, at=stamp)
    return {"format": fmt, "version": version, "procedures": len(procs), "label": label,
            "total": catalog_store.count(db)}


def import_file(db: sqlite_utils.Database, path: str | Path, *, now: datetime,
                actor: str) -> dict:
    """Import a catalog file from disk (see :func:`import_catalog`)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read {p}: {exc.strerror}") from None
    return import_catalog(db, raw, now=now, actor=actor, source=p.name)


@functools.lru_cache(maxsize=16384)
def _name_keys(name: str) -> tuple[str, str]:
    # Keys of a procedure name, kept between searches: computing them for the ~100
    # candidates of a common word ("đăng ký") was 70 % of a search over a 600-procedure
    # catalog (bench/bench_node_scale.py). A name's keys never change, so no invalidation.
    return accent_key(name), fold(name)


def search(db: sqlite_utils.Database, query: str, limit: int = 20) -> list[dict]:
    """Find procedures by name, field or code, with or without diacritics.

    Accent-exact matches rank before matches that only agree once folded
    ("đường" and "dương" fold alike), then FTS5's bm25 order.
    """
    query = (query or "").strip()[:200]
    if not query:
        return catalog_store.list_page(db, limit)
    exact = catalog_store.get(db, query)
    tokens = words(query)[:12]
    if not tokens:
        return [exact] if exact else []
    fts = " ".join(f'"{t}"*' for t in tokens)
    names = catalog_store.match(db, fts, max(limit * 5, 100))
    q_accent = accent_key(query)
    q_fold = fold(query)

    def rank(item: tuple[int, tuple[str, str]]) -> tuple:
        pos, (_code, name) = item
        name_accent, name_fold = _name_keys(name)
        all_accented = all(part in name_accent for part in q_accent.split(" "))
        return (q_accent not in name_accent, not all_accented, q_fold not in name_fold, pos)

    codes = [code for _, (code, _name) in sorted(enumerate(names), key=rank)]
    if exact:
        codes = [exact["code"]] + [c for c in codes if c != exact["code"]]
    return catalog_store.get_many(db, codes[:limit])
