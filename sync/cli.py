"""``sync-hub`` command line: the provincial gateway's server and its chores."""

from __future__ import annotations

import json
import sys

import click

from edge_node import __version__
from edge_node.config import ConfigError
from edge_node.domain.catalog_formats import CatalogError, parse_catalog
from edge_node.domain.clock import now_utc, to_iso
from edge_node.lock import HomeLock, HomeLocked, LockUnusable


def _cfg(ctx, **overrides):
    from sync.hub.config import load_hub_config

    try:
        return load_hub_config(ctx.obj["home"], overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _store(cfg):
    from sync.hub.store import open_store

    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        return open_store(cfg)
    except Exception as exc:  # an unreachable PostgreSQL: say so, not a traceback
        if not cfg.database_url:
            raise
        from sync.hub.db import redact

        raise click.ClickException(f"cannot open the hub database {redact(cfg.database_url)}"
                                   f": {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Hub home folder (env SYNC_HUB_HOME, default ./hub-home).")
@click.version_option(__version__, prog_name="sync-hub")
@click.pass_context
def cli(ctx, home):
    """Provincial sync hub for commune edge nodes."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


def _database_label(cfg) -> str:
    from sync.hub.db import redact

    return f"PostgreSQL {redact(cfg.database_url)}" if cfg.database_url else \
        f"SQLite {cfg.db_path}"


@cli.command()
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
@click.pass_context
def serve(ctx, host, port):
    """Serve the hub (sync endpoints, API and admin pages) with waitress."""
    from edge_node.serving import serve_forever
    from sync.hub.app import create_hub_app

    cfg = _cfg(ctx, host=host, port=port)
    cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = None
    if not cfg.database_url:  # one process per SQLite file; PostgreSQL takes several
        try:
            lock = HomeLock(cfg.lock_path).acquire()
        except HomeLocked:
            raise click.ClickException(f"another sync-hub is already serving {cfg.home}"
                                       ) from None
        except LockUnusable as exc:
            raise click.ClickException(str(exc)) from None
    # 0.0.0.0 listens on every address of this PC; say so instead of printing it
    shown = "<this-server's-address>" if cfg.host in ("0.0.0.0", "::") else cfg.host
    try:
        serve_forever(create_hub_app(cfg), host=cfg.host, port=cfg.port, threads=cfg.threads,
                      ident="sync-hub", banner=[f"Sync hub {__version__} ({cfg.hub_id}) serving "
                                                f"{cfg.home} at http://{shown}:{cfg.port}/",
                                                f"Database: {_database_label(cfg)}"])
    finally:
        if lock is not None:
            lock.release()


@cli.command()
@click.pass_context
def migrate(ctx):
    """Create or update the hub's database schema (and the hub's keys); safe to repeat.

    Run it once before starting several ``serve`` processes on one PostgreSQL database.
    """
    from edge_node.web.app import read_secret_key
    from sync.protocol import load_or_create_identity

    cfg = _cfg(ctx)
    store = _store(cfg)
    try:
        version = store.schema_version()
        backend = store.dialect
    finally:
        store.close()
    load_or_create_identity(cfg.home / "keys")
    read_secret_key(cfg)
    click.echo(f"Hub database ({backend}) at schema version {version}.")


@cli.command("enroll-code")
@click.option("--commune", required=True, help="2025 commune code, e.g. 03325 (Xã Mường Phăng).")
@click.option("--agency-id", default="", help="The commune One-stop's electronic identifier.")
@click.pass_context
def enroll_code(ctx, commune, agency_id):
    """Print a one-time enrollment code for a commune's node."""
    from sync.hub.service import HubError, commune_name, new_enroll_code

    cfg = _cfg(ctx)
    store = _store(cfg)
    try:
        code, expires = new_enroll_code(store, commune_code=commune, agency_id=agency_id,
                                        now=now_utc(), hours=cfg.enroll_code_hours)
    except HubError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"Enrollment code for {commune_name(commune.zfill(5))} ({commune.zfill(5)}): "
               f"{code}")
    click.echo(f"Valid until {expires} (one use). On the node: "
               f"edge-node enroll --hub http://<hub-address>:{cfg.port}/ --code {code}")


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the reply file for the node.")
@click.pass_context
def import_cmd(ctx, file, out):
    """Apply a node's USB file and write the reply (acks and feed) to --out."""
    from pathlib import Path

    from sync.hub.population import load_source
    from sync.hub.service import HubError, import_file
    from sync.protocol import load_or_create_identity

    cfg = _cfg(ctx)
    store = _store(cfg)
    try:
        from sync.hub.province import hook, pull_hook

        reply, batches = import_file(
            store, hub_id=cfg.hub_id, identity=load_or_create_identity(cfg.home / "keys"),
            data=Path(file).read_bytes(), now=now_utc(), max_bytes=cfg.max_batch_bytes,
            feed_limit=10_000, cfg=cfg, population=load_source(cfg),
            after_apply=hook(cfg), follow_up=pull_hook(cfg))
    except HubError as exc:
        raise click.ClickException(f"file refused ({exc.code}): {exc.message}; nothing "
                                   "applied") from None
    finally:
        store.close()
    tmp = Path(out).with_suffix(".tmp")
    try:
        tmp.write_bytes(reply)
        tmp.replace(out)  # never leave half a reply on the stick
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"Processed {batches} batches (those the hub already held are acknowledged "
               f"again, never applied twice); reply written to {out}.")


@cli.command()
@click.argument("node_id")
@click.pass_context
def revoke(ctx, node_id):
    """Revoke a node: its batches are refused from now on."""
    store = _store(_cfg(ctx))
    try:
        if not store.revoke(node_id, to_iso(now_utc())):
            raise click.ClickException(f"no live node {node_id}")
    finally:
        store.close()
    click.echo(f"Revoked {node_id}.")


@cli.command()
@click.pass_context
def nodes(ctx):
    """List enrolled nodes."""
    store = _store(_cfg(ctx))
    try:
        for n in store.nodes():
            state = "revoked" if n["revoked_at"] else "live"
            click.echo(f"{n['node_id']}\t{n['commune_name']}\t{state}\tacked={n['acked_seq']}"
                       f"\tlast_seen={n['last_seen_at'] or '-'}")
    finally:
        store.close()


def _publish(ctx, kind: str, payload: dict) -> int:
    store = _store(_cfg(ctx))
    try:
        return store.publish(kind, payload, to_iso(now_utc()))
    finally:
        store.close()


@cli.group()
def calendar():
    """Send the province's calendar decisions to every node."""


@calendar.command("override")
@click.argument("day")
@click.option("--off", "kind", flag_value="off", help="An extra day off.")
@click.option("--working", "kind", flag_value="working", help="An extra working day.")
@click.option("--clear", "kind", flag_value="clear", help="Withdraw an earlier override.")
@click.option("--note", default="", help="The decision, e.g. 'QĐ 12/QĐ-UBND'.")
@click.pass_context
def calendar_override(ctx, day, kind, note):
    """Publish an override for DAY (YYYY-MM-DD): --off, --working or --clear."""
    from datetime import date

    try:
        date.fromisoformat(day)
    except ValueError:
        raise click.ClickException(f"{day!r} is not a date YYYY-MM-DD") from None
    if kind is None:
        raise click.UsageError("choose --off, --working or --clear")
    if kind != "clear" and not note.strip():
        raise click.UsageError("--note is required (the decision's number)")
    working = {"off": False, "working": True, "clear": None}[kind]
    count = _publish(ctx, "calendar.override", {"date": day, "working": working,
                                                 "note": note.strip()})
    click.echo(f"Published the override of {day} to {count} nodes.")


@cli.command()
@click.argument("text")
@click.pass_context
def hours(ctx, text):
    """Publish working sessions, e.g. '07:00-11:30,13:30-17:00' or seasonal periods."""
    from edge_node.domain.calendar import parse_working_hours

    try:
        parse_working_hours(text)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Published working hours to {_publish(ctx, 'working_hours', {'text': text})} "
               "nodes.")


@cli.command()
@click.argument("procedure_code")
@click.option("--steps", required=True,
              help="'Tên bước | vai trò | giờ' lines separated by ';' (one-stop first and last).")
@click.option("--supplement-model", type=click.Choice(["restart", "pause"]), default="restart")
@click.option("--payment-pauses", is_flag=True)
@click.pass_context
def process(ctx, procedure_code, steps, supplement_model, payment_pauses):
    """Publish the electronic internal process of one procedure to every node."""
    from edge_node.services.process import ProcessError, check_total, parse_steps

    try:
        parsed = parse_steps(steps.replace(";", "\n"))
        store = _store(_cfg(ctx))
        try:
            catalog = store.latest_catalog()
        finally:
            store.close()
        known = {p.code: p for p in parse_catalog(json.dumps(catalog))[2]} if catalog else {}
        if procedure_code in known:
            proc = known[procedure_code]
            check_total(parsed, proc.time_limit_value, proc.time_limit_unit)
        else:
            click.echo(f"Warning: {procedure_code} is not in the hub's catalog; the steps' total"
                       " could not be checked against its legal time limit.", err=True)
    except ProcessError as exc:
        raise click.ClickException(exc.message) from None
    count = _publish(ctx, "process", {
        "procedure_code": procedure_code, "steps": [[s.name, s.role, s.minutes] for s in parsed],
        "supplement_model": supplement_model, "payment_pauses": payment_pauses})
    click.echo(f"Published the process of {procedure_code} to {count} nodes.")


@cli.group()
def user():
    """Manage hub accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "leader"]), required=True)
@click.option("--full-name", default="")
@click.option("--password-stdin", is_flag=True)
@click.pass_context
def user_add(ctx, username, role, full_name, password_stdin):
    """Create a hub account (admin, or leader to read only)."""
    from edge_node.services import accounts

    store = _store(_cfg(ctx))
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    try:
        _, pw = accounts.create_user(store.db, username=username, role=role,
                                     full_name=full_name, password=password,
                                     must_change=not password_stdin, now=now_utc(), actor="cli")
    except accounts.AccountError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(f"Created {role} account '{username.strip().lower()}'.")
    if not password_stdin:
        click.echo(f"One-time password (change at first login): {pw}")


@cli.group()
def audit():
    """Check the audit chains the nodes sent."""


@audit.command("verify")
@click.argument("node_id")
@click.pass_context
def audit_verify(ctx, node_id):
    """Walk NODE_ID's shipped audit chain; exit 1 naming the first broken entry."""
    from sync.hub.audit import verify_node

    store = _store(_cfg(ctx))
    try:
        if store.node(node_id) is None:
            raise click.ClickException(f"no node {node_id}")
        result = verify_node(store, node_id)
    finally:
        store.close()
    if result["broken_at"] is not None:
        raise click.ClickException(
            f"audit chain of {node_id} broken at entry {result['broken_at']} "
            f"({result['reason']}): an entry was edited, deleted, reordered or cut off")
    click.echo(f"Audit chain of {node_id} intact: {result['entries']} entries received.")


@cli.group()
def catalog():
    """Publish procedure catalogs to every node."""


@catalog.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def catalog_import(ctx, file):
    """Import a catalog (same formats as the node) and put it in every node's feed."""
    try:
        raw = open(file, "rb").read()
        fmt, label, procs = parse_catalog(raw)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    except CatalogError as exc:
        raise click.ClickException(f"catalog not imported ({exc})") from None
    procedures = [{"code": p.code, "name": p.name, "field": p.field, "level": p.level,
                   "time_limit": {"value": p.time_limit_value,
                                  "unit": None if p.time_limit_inferred else p.time_limit_unit},
                   "fee_vnd": p.fee_vnd, "fee_note": p.fee_note, "documents": p.documents,
                   "legal_basis": p.legal_basis} for p in procs]
    store = _store(_cfg(ctx))
    try:
        version = store.add_catalog(label or fmt, procedures, to_iso(now_utc()))
        live = len([n for n in store.nodes() if not n["revoked_at"]])
    finally:
        store.close()
    click.echo(f"Published catalog version {version} ({len(procedures)} procedures, {fmt}) "
               f"to {live} nodes.")


@cli.group()
def token():
    """Integration tokens for systems calling the hub API (the DVCQG adapter)."""


@token.command("create")
@click.option("--label", required=True, help="Who uses it, e.g. 'DVCQG adapter'.")
@click.option("--days", type=int, default=None, help="Lifetime (default: api_token_days).")
@click.pass_context
def token_create(ctx, label, days):
    """Print a new token once; the hub keeps only its hash."""
    from sync.hub.province import create_token
    from sync.hub.service import HubError

    cfg = _cfg(ctx)
    if days is not None and days < 1:
        raise click.UsageError("--days must be at least 1")
    store = _store(cfg)
    try:
        made, expires = create_token(store, label, now=now_utc(),
                                     days=days or cfg.api_token_days)
    except HubError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        store.close()
    click.echo(made)
    click.echo(f"Valid until {expires}. Send it as 'Authorization: Bearer <token>'. It is not "
               "shown again.", err=True)


@token.command("list")
@click.pass_context
def token_list(ctx):
    """List tokens (hash prefix, label, state)."""
    store = _store(_cfg(ctx))
    try:
        for t in store.api_tokens():
            state = "revoked" if t["revoked_at"] else f"until {t['expires_at']}"
            click.echo(f"{t['token_hash'][:12]}\t{t['label']}\t{state}\t"
                       f"last_used={t['last_used_at'] or '-'}")
    finally:
        store.close()


@token.command("revoke")
@click.argument("hash_prefix")
@click.pass_context
def token_revoke(ctx, hash_prefix):
    """Revoke the token whose hash starts with HASH_PREFIX (from 'token list')."""
    if len(hash_prefix) < 8:
        raise click.UsageError("give at least 8 characters of the hash")
    store = _store(_cfg(ctx))
    try:
        count = store.revoke_api_token(hash_prefix, to_iso(now_utc()))
    finally:
        store.close()
    if count != 1:
        raise click.ClickException(f"{count} live tokens match {hash_prefix}")
    click.echo("Revoked.")


def _submit(ctx, what: str, raw: str):
    import json as _json

    from sync.hub import province
    from sync.hub.service import HubError

    try:
        body = _json.loads(raw)
    except ValueError as exc:
        raise click.ClickException(f"not JSON: {exc}") from None
    store = _store(_cfg(ctx))
    try:
        submit = province.submit_dossier if what == "dossier" else province.submit_fact
        return submit(store, body, now=now_utc(), by="cli")
    except HubError as exc:
        fields = "; ".join(f"{k}: {m}" for k, m in getattr(exc, "fields", {}).items())
        raise click.ClickException(f"refused ({exc.code}): {fields or exc.message}") from None
    finally:
        store.close()


@cli.command("inbound")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_context
def inbound_cmd(ctx, file):
    """Receive an online dossier from a JSON FILE (as POST /api/v1/inbound/dossiers)."""
    routed = _submit(ctx, "dossier", file.read())
    click.echo(f"Routed {routed['MaHoSo']} to {routed['commune_name']} ({routed['node_id']}).")


@cli.command("fact")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.pass_context
def fact_cmd(ctx, file):
    """Submit a fact about a dossier from a JSON FILE (as POST /api/v1/inbound/facts)."""
    result = _submit(ctx, "fact", file.read())
    if result["status"] == "routed":
        click.echo(f"Routed to {result['node_id']} (fact {result['fact_id']}).")
    else:
        click.echo(f"Kept for a person (fact {result['fact_id']}): {result['reason']}")


@cli.command("deliver")
@click.pass_context
def deliver_cmd(ctx):
    """Do queued follow-up work (identity checks, look-ups), then deliver applicant
    notifications still waiting (retries failed ones)."""
    from sync.hub.province import catch_up

    cfg = _cfg(ctx)
    store = _store(cfg)
    try:
        sent, failed = catch_up(store, cfg, now_utc())
    finally:
        store.close()
    click.echo(f"Sent {sent}, failed {failed}.")


@cli.command("export-dvcqg")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="JSON file to write.")
@click.option("--since", default="", help="YYYY-MM-DD or ISO instant: only changes from then.")
@click.pass_context
def export_dvcqg(ctx, out, since):
    """Write dossiers (DongBoHoSoMC) and progress rows (CapNhatTienDoHoSoMC) as JSON."""
    import json as _json
    from pathlib import Path

    from sync.hub import dvcqg
    from sync.hub.inbound import parse_since, unit_names

    try:
        since = parse_since(since) if since else ""
    except ValueError:
        raise click.UsageError("--since must be YYYY-MM-DD or an ISO instant with zone") from None
    store = _store(_cfg(ctx))
    try:
        body = dvcqg.export(store, since=since, unit_names=unit_names(store))
    finally:
        store.close()
    tmp = Path(out).with_suffix(".tmp")
    try:
        tmp.write_text(_json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"Wrote {len(body['DongBoHoSoMC']['data'])} dossiers and "
               f"{len(body['CapNhatTienDoHoSoMC']['data'])} progress rows to {out}.")


def main():
    from sync.hub.db import close_pools

    try:
        cli(prog_name="sync-hub")
    finally:
        close_pools()
