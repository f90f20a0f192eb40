"""``edge-node`` command line: init, up, serve, status, users, catalog, config, backup,
restore, migrate."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys

import click

from edge_node import __version__, exitcodes
from edge_node.config import LOOPBACK_HOSTS, OPTIONS, ConfigError, load_config
from edge_node.domain.catalog_formats import CatalogError
from edge_node.domain.clock import now_utc
from edge_node.lock import HomeLock, HomeLocked, LockUnusable


def _cfg(ctx: click.Context, **overrides):
    try:
        return load_config(ctx.obj["home"], overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--home", type=click.Path(file_okay=False), default=None,
              help="Node home folder (env EDGE_NODE_HOME, default ./edge-home).")
@click.version_option(__version__, prog_name="edge-node")
@click.pass_context
def cli(ctx: click.Context, home: str | None) -> None:
    """Commune edge node: offline One-stop dossier handling."""
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


def _print_init(cfg, result) -> None:
    if result.created_home:
        click.echo(f"Created node home {cfg.home}")
    if result.seeded_procedures:
        click.echo(f"Imported the seed catalog: {result.seeded_procedures} procedures")
    if result.admin_password:
        click.echo("")
        click.echo("First login (shown only once; you must change it at first login):")
        click.echo("  username: admin")
        click.echo(f"  password: {result.admin_password}")
        click.echo("")


def _url(cfg) -> str:
    host = cfg.listen_host
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://{host}:{cfg.port}/"


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the home (config, database, seed catalog, first admin) if missing."""
    from edge_node.services.node import init_home

    cfg = _cfg(ctx)
    lock = _lock(cfg, "init")
    try:
        if cfg.db_path.exists():
            _migrate_with_backup(cfg)  # an existing home upgrades only after a backup
        result = init_home(cfg)
    except (OSError, sqlite3.Error) as exc:
        raise click.ClickException(f"cannot create the home {cfg.home}: {exc}") from None
    finally:
        lock.release()
    _print_init(cfg, result)
    click.echo(f"Start the node with: edge-node --home {cfg.home} serve   → {_url(cfg)}")


def _lock(cfg, purpose: str = "") -> HomeLock:
    """Take the home's lock or stop with a clear one-line message (exit 5, 8 or 9).

    A lock file nobody can open (a folder in its place) is exit 8, "a file in the way":
    a person must remove it, as for any other obstacle in the home.
    """
    from edge_node.runstate import os_error

    try:
        cfg.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        return HomeLock(cfg.lock_path, purpose).acquire()
    except HomeLocked as exc:
        pid = f" (process {exc})" if str(exc) else ""
        raise exitcodes.ExitError(
            f"another edge-node is already serving the home {cfg.home}{pid}. "
            "Stop it first, or use another --home.", exitcodes.LOCKED) from None
    except LockUnusable as exc:
        raise exitcodes.ExitError(str(exc), exitcodes.HOME_NOT_WRITABLE) from None
    except OSError as exc:
        raise os_error(cfg.home, exc) from None


def _serve(cfg, lock: HomeLock | None = None, checked: bool = False) -> None:
    from edge_node import runstate
    from edge_node.jobs import start_scheduler
    from edge_node.logs import setup_logging
    from edge_node.serving import serve_forever
    from edge_node.web.app import create_app

    lock = lock or _lock(cfg, "serve")
    try:
        if not checked:
            runstate.preflight(cfg)  # writable home, free space, an undamaged database
        try:
            setup_logging(cfg)
        except OSError as exc:
            raise runstate.os_error(cfg.home, exc) from None
        applied, made = _migrate_with_backup(cfg)  # a new version: back up, then migrate
        if applied:
            click.echo(f"Upgraded the database (migrations {', '.join(map(str, applied))});"
                       f" backup before the upgrade: {made}")
        log = logging.getLogger("edge_node.serve")
        previous = runstate.read_state(cfg)
        if previous.get("state") == "serving":
            log.warning("the server started at %s did not stop cleanly (power cut, kill or "
                        "crash); SQLite recovers its journal on open", previous.get("started_at"))
        host = cfg.listen_host

        def start_jobs():
            scheduler = start_scheduler(cfg)  # after the bind: one scheduler per home
            runstate.mark_serving(cfg, host, cfg.port, previous)
            log.info("serving %s on %s:%s", cfg.home, host, cfg.port)
            return lambda: scheduler.shutdown(wait=False)

        banner = [f"Commune edge node {__version__} serving {cfg.home}",
                  f"Open {_url(cfg)} in a browser. Press Ctrl+C to stop."]
        if host not in LOOPBACK_HOSTS:
            banner.insert(1, f"LAN mode: listening on {host}:{cfg.port}; other PCs of the "
                             f"office open http://<this PC's address>:{cfg.port}/")
        serve_forever(create_app(cfg), host=host, port=cfg.port, threads=cfg.threads,
                      ident="edge-node", on_start=start_jobs, banner=banner)
        runstate.mark_stopped(cfg)
        log.info("stopped cleanly")
    finally:
        lock.release()


_LAN_HELP = ("LAN mode: listen on all addresses (0.0.0.0) so other PCs of the office can "
             "connect (config option lan).")


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--lan", is_flag=True, default=None, help=_LAN_HELP)
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, lan: bool | None) -> None:
    """Serve the web interface with waitress (exit codes: docs/install.md)."""
    cfg = _cfg(ctx, host=host, port=port, lan=lan or None)
    if not cfg.db_path.exists():
        from edge_node import runstate

        raise exitcodes.ExitError(runstate.interrupted_restore(cfg) or (
            f"no node home at {cfg.home}; run 'edge-node init' first (or 'edge-node up')."),
            exitcodes.NO_HOME)
    _serve(cfg)


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@click.option("--lan", is_flag=True, default=None, help=_LAN_HELP)
@click.pass_context
def up(ctx: click.Context, host: str | None, port: int | None, lan: bool | None) -> None:
    """Initialise the home when it is new, then serve."""
    from edge_node import runstate
    from edge_node.services.node import init_home

    cfg = _cfg(ctx, host=host, port=port, lan=lan or None)
    lock = _lock(cfg, "serve")
    try:
        runstate.preflight(cfg)  # a damaged database is reported, never initialised over
        existed = cfg.db_path.exists()
        if existed:
            _migrate_with_backup(cfg)  # before init_home opens (and would migrate) it
            click.echo(f"Using the existing node home {cfg.home}: its data and accounts are"
                       " kept (no new first login).")
        result = init_home(cfg)
    except click.ClickException:
        lock.release()
        raise
    except (OSError, sqlite3.Error) as exc:
        lock.release()
        raise click.ClickException(f"cannot create the home {cfg.home}: {exc}") from None
    _print_init(cfg, result)
    _serve(_cfg(ctx, host=host, port=port, lan=lan or None), lock, checked=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--no-db-check", is_flag=True,
              help="Skip the database quick_check (large databases on slow disks).")
@click.pass_context
def status(ctx: click.Context, as_json: bool, no_db_check: bool) -> None:
    """Is the node running? Exit 0 running, 3 stopped, 4 unclean shutdown, 5 locked,
    6 database corrupt, 7 no home (docs/install.md)."""
    from edge_node import runstate

    cfg = _cfg(ctx)
    result = runstate.status(cfg, check_db=not no_db_check)
    if as_json:
        click.echo(json.dumps({"state": result.state, "exit_code": result.code,
                               "message": result.message, **result.details},
                              ensure_ascii=False))
    elif result.code in (exitcodes.RUNNING, exitcodes.STOPPED):
        click.echo(result.message)
    else:
        click.echo(result.message, err=True)
    ctx.exit(result.code)


def _open(cfg):
    from edge_node.store.db import open_db

    if not cfg.db_path.exists():
        raise click.ClickException(f"no node home at {cfg.home}; run 'edge-node init' first.")
    try:
        return open_db(cfg.db_path)
    except sqlite3.Error as exc:
        raise click.ClickException(
            f"cannot open the database {cfg.db_path} ({exc}). Check that the folder is "
            "writable and the disk not full; if the file is damaged, restore a backup "
            "(never delete it).") from None


@cli.group()
def user() -> None:
    """Manage accounts."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "clerk", "officer", "leader"]),
              required=True)
@click.option("--full-name", default="", help="Full name shown in the interface.")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from standard input instead of generating one.")
@click.pass_context
def user_add(ctx: click.Context, username: str, role: str, full_name: str,
             password_stdin: bool) -> None:
    """Create an account. Without --password-stdin a one-time password is printed."""
    from edge_node.services import accounts

    cfg = _cfg(ctx)
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    db = _open(cfg)
    try:
        _, pw = accounts.create_user(db, username=username, role=role, full_name=full_name,
                                     password=password, must_change=not password_stdin,
                                     now=now_utc(), actor="cli")
    except accounts.AccountError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.conn.close()
    click.echo(f"Created {role} account '{username.strip().lower()}'.")
    if not password_stdin:
        click.echo(f"One-time password (change at first login): {pw}")


@user.command("reset-password")
@click.argument("username")
@click.pass_context
def user_reset(ctx: click.Context, username: str) -> None:
    """Give an account a new one-time password (e.g. a lost first admin password)."""
    from edge_node.services import accounts
    from edge_node.store import users as users_store

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        target = users_store.get_by_username(db, username.strip().lower())
        if target is None:
            raise click.ClickException(f"no account '{username}'")
        password = accounts.reset_password(db, target["id"], now=now_utc(),
                                           actor={"username": "cli"})
    finally:
        db.conn.close()
    click.echo(f"New one-time password for '{target['username']}' (change at next login): "
               f"{password}")


@user.command("grant-population")
@click.argument("username")
@click.option("--decision", required=True, help="The approving decision, e.g. '123/QĐ-CAT'.")
@click.option("--until", "until", required=True, help="Last day of validity, YYYY-MM-DD.")
@click.pass_context
def user_grant_population(ctx: click.Context, username: str, decision: str, until: str) -> None:
    """Let USERNAME look up population data until --until (a grant apart from roles)."""
    from edge_node.services import population

    db = _open(_cfg(ctx))
    try:
        target = population.grant(db, username, decision=decision, until=until, actor="cli",
                                  now=now_utc())
    except population.PopulationError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.conn.close()
    click.echo(f"Granted population-data access to '{target['username']}' until {until} "
               f"({decision}).")


@user.command("revoke-population")
@click.argument("username")
@click.option("--decision", required=True, help="The decision that ends the grant.")
@click.pass_context
def user_revoke_population(ctx: click.Context, username: str, decision: str) -> None:
    """End every population-data grant of USERNAME."""
    from edge_node.services import population

    db = _open(_cfg(ctx))
    try:
        target = population.revoke(db, username, decision=decision, actor="cli", now=now_utc())
    except population.PopulationError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.conn.close()
    click.echo(f"Revoked population-data access of '{target['username']}' ({decision}).")


@cli.group()
def catalog() -> None:
    """Manage the procedure catalog."""


@catalog.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.pass_context
def catalog_import(ctx: click.Context, file: str) -> None:
    """Import (upsert by code) a catalog: edge-node JSON, TTHC reference JSON or LayThuTuc."""
    from edge_node.services import catalog as catalog_service

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        result = catalog_service.import_file(db, file, now=now_utc(), actor="cli")
    except CatalogError as exc:
        raise click.ClickException(f"catalog not imported ({exc}); the old catalog is "
                                   "unchanged") from None
    finally:
        db.conn.close()
    click.echo(f"Imported {result['procedures']} procedures ({result['format']}) as catalog "
               f"version {result['version']}; {result['total']} procedures in total.")


@cli.command()
@click.option("--hub", "hub_url", required=True, help="The province hub's address.")
@click.option("--code", required=True, help="One-time code from 'sync-hub enroll-code'.")
@click.pass_context
def enroll(ctx: click.Context, hub_url: str, code: str) -> None:
    """Enroll this node with the provincial hub (exchange and pin keys)."""
    from edge_node.services import sync

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        body = sync.enroll(db, cfg, hub_url, code, now=now_utc())
    except sync.SyncError as exc:
        raise click.ClickException(f"enrollment refused ({exc.code}): {exc.detail or exc.message}"
                                   ) from None
    finally:
        db.conn.close()
    click.echo(f"Enrolled as node {body['node_id']} of {body['commune_name']} "
               f"({body['commune_code']}) with hub {body['hub_id']}.")
    if body.get("agency_id"):
        click.echo(f"Dossier codes now use the agency identifier {body['agency_id']}.")


@cli.group("sync", invoke_without_command=True)
@click.option("--once", is_flag=True, help="Run one push-and-pull round now.")
@click.pass_context
def sync_cmd(ctx: click.Context, once: bool) -> None:
    """Send pending events to the province and apply what it sent back.

    ``sync --once`` runs one round over the network; ``sync export`` and
    ``sync import`` carry the same envelopes on a USB stick.
    """
    from edge_node.services import sync

    if ctx.invoked_subcommand is not None:
        return
    if not once:
        raise click.UsageError("use --once, or the export / import subcommands")
    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        report = sync.sync_once(db, cfg, now_fn=now_utc)
        state = sync.status(db)
    finally:
        db.conn.close()
    click.echo(f"Sent {report.pushed_events} events in {report.batches} batches; applied "
               f"{report.pulled_items} items from the province; {state['pending_events']} "
               "events waiting.")
    if report.error:
        # a node not enrolled has no sync status to read the message from
        message = state["last_error_message"] or sync.ERROR_MESSAGES.get(report.error, "")
        raise click.ClickException(f"sync stopped ({report.error}): {message}")


@sync_cmd.command("export")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="File to write (e.g. on a USB stick).")
@click.pass_context
def sync_export(ctx: click.Context, out: str) -> None:
    """Write every pending event (and a request for the province's news) to one file."""
    from pathlib import Path

    from edge_node.services import sync

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        body, events = sync.export_file(db, cfg, now_fn=now_utc)
        files = sync.status(db)["attachments"]
    except sync.SyncError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    finally:
        db.conn.close()
    tmp = Path(out).with_suffix(".tmp")
    try:
        tmp.write_bytes(body)
        tmp.replace(out)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror} (is the USB stick "
                                   "plugged in?)") from None
    click.echo(f"Wrote {events} pending events to {out} ({len(body)} bytes). Take it to the "
               "province; bring back the reply file and run: edge-node sync import REPLY")
    if files["pending_files"]:
        click.echo(f"Included {files['pending_files']} attachment files waiting for the "
                   "province (in chunks, from where it stopped).")


@sync_cmd.command("import")
@click.argument("reply", type=click.Path(dir_okay=False, exists=True))
@click.pass_context
def sync_import(ctx: click.Context, reply: str) -> None:
    """Apply the province's reply file (acknowledgements and news)."""
    from pathlib import Path

    from edge_node.services import sync

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        acked, items = sync.import_reply(db, cfg, Path(reply).read_bytes(), now_fn=now_utc)
        pending = sync.status(db)["pending_events"]
    except sync.SyncError as exc:
        raise click.ClickException(f"reply refused ({exc.detail or exc.code}); nothing "
                                   "applied") from None
    finally:
        db.conn.close()
    click.echo(f"The province holds events up to {acked}; applied {items} items; "
               f"{pending} events still waiting.")


@cli.group()
def audit() -> None:
    """Check the tamper-evident audit log."""


@audit.command("verify")
@click.pass_context
def audit_verify(ctx: click.Context) -> None:
    """Walk the hash chain; exit 1 naming the first broken entry."""
    from edge_node.store import audit as audit_store

    cfg = _cfg(ctx)
    db = _open(cfg)
    try:
        broken = audit_store.verify_chain(db)
        count = db.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    finally:
        db.conn.close()
    if broken is not None:
        raise click.ClickException(f"audit chain broken at entry {broken}: an entry was edited, "
                                   "deleted or reordered from there on")
    click.echo(f"Audit chain intact: {count} entries.")


@cli.group()
def config() -> None:
    """Show the configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print every option's effective value and where it came from."""
    cfg = _cfg(ctx)
    click.echo(f"home = {cfg.home}")
    enrolled_agency = None
    if cfg.db_path.exists():
        from edge_node.store import settings

        db = _open(cfg)
        try:
            enrolled_agency = settings.get(db, "sync.agency_id")
        finally:
            db.conn.close()
    for option in OPTIONS:
        value, source = cfg.values[option.name], cfg.sources[option.name]
        if option.name == "agency_id" and enrolled_agency:
            value, source = enrolled_agency, "the province at enrollment (wins over config)"
        click.echo(f"{option.name} = {value!r}    "
                   f"# {option.type.__name__}, from {source}, env {option.env}")


@cli.command()
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Archive to write (default: the backups folder, see backup_dir).")
@click.pass_context
def backup(ctx: click.Context, out: str | None) -> None:
    """Write a verified backup (database, keys, config, attachments) to one zip archive.

    Safe while the node serves. Exit 1, leaving no file, when the copy does not verify.
    """
    from pathlib import Path

    from edge_node.services import backup as backup_service

    cfg = _cfg(ctx)
    if not cfg.db_path.exists():
        raise click.ClickException(f"no node home at {cfg.home}; nothing to back up.")
    try:
        result = backup_service.create_backup(cfg, Path(out) if out else None)
    except backup_service.BackupError as exc:
        raise click.ClickException(f"backup failed, no file kept: {exc}") from None
    size = result.path.stat().st_size
    click.echo(f"Backup written and verified: {result.path} ({size} bytes, schema "
               f"{result.manifest['schema_version']}, node "
               f"{result.manifest['node_id'] or 'not enrolled'}). It holds the node's keys: "
               "keep it safe.")


@cli.command()
@click.argument("archive", type=click.Path(dir_okay=False, exists=True))
@click.option("--force", is_flag=True,
              help="Restore even a backup of another node or agency.")
@click.pass_context
def restore(ctx: click.Context, archive: str, force: bool) -> None:
    """Replace the home's database and keys with a verified backup (node stopped).

    The current files are kept in {home}/pre-restore-STAMP/. An enrolled node
    then asks the province, at its next sync, what it already holds.
    """
    from pathlib import Path

    from edge_node.services import backup as backup_service

    cfg = _cfg(ctx)
    lock = _lock(cfg, "restore")
    try:
        result = backup_service.restore(cfg, Path(archive), force=force)
    except backup_service.BackupError as exc:
        raise click.ClickException(f"restore refused, the home is unchanged: {exc}") from None
    except backup_service.RestoreIncomplete as exc:  # the swap began: never say "unchanged"
        raise click.ClickException(f"restore incomplete: {exc}") from None
    finally:
        lock.release()
    click.echo(f"Restored the backup of {result.manifest['created_at']} (node "
               f"{result.manifest['node_id'] or 'not enrolled'}). The previous files are in "
               f"{result.moved_to}.")
    if result.leftovers:
        click.echo(f"What the interrupted restore had left in the home is in {result.leftovers}.")
    if result.recovery:
        click.echo("Work done after that backup and never sent to the province is lost.")
        _recover_now(cfg)


_RECOVER_LATER = ("Until the node syncs once (it does so by itself when serving online, or run "
                  "'edge-node sync --once'), no new work can be recorded, so no number the "
                  "province holds is reused.")


def _recover_now(cfg) -> None:
    """Fetch what the province holds right after a restore, when it can be reached."""
    from edge_node.services import recovery, sync

    db = _open(cfg)
    try:
        done = recovery.recover(db, cfg, now_fn=now_utc)
    except sync.SyncError as exc:
        reason = ("Could not reach the province now" if exc.code == "offline" else
                  f"The province did not answer the recovery ({exc.detail or exc.message})")
        click.echo(f"{reason} [{exc.code}]. {_RECOVER_LATER}")
        return
    except Exception as exc:  # the restore is done; recovery retries at the next sync
        click.echo(f"Recovery did not run now ({exc.__class__.__name__}: {exc}). "
                   f"{_RECOVER_LATER}")
        return
    finally:
        db.conn.close()
    click.echo(f"Recovered from the province {done['events']} events "
               f"({done['dossier_events']} dossier events) sent after the backup; the node is "
               f"in step with it at event {done['hub_seq']}.")


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Upgrade the database schema after an automatic verified backup.

    If a migration fails the backup is put back, the previous version keeps
    working, and the command exits 1.
    """
    cfg = _cfg(ctx)
    if not cfg.db_path.exists():
        raise click.ClickException(f"no node home at {cfg.home}; run 'edge-node init' first.")
    lock = _lock(cfg, "migrate")
    try:
        applied, made = _migrate_with_backup(cfg)
    finally:
        lock.release()
    if not applied:
        click.echo("The database is up to date; nothing to do.")
    else:
        click.echo(f"Applied migrations {', '.join(map(str, applied))} after the backup "
                   f"{made}.")


def _migrate_with_backup(cfg):
    """The shared upgrade path of ``migrate``, ``serve`` and ``up`` (lock held by the caller)."""
    from edge_node.services import backup as backup_service
    from edge_node.services import upgrade

    try:
        return upgrade.migrate_with_backup(cfg)
    except upgrade.UpgradeError as exc:
        raise click.ClickException(f"upgrade failed: {exc}. Install the previous edge-node "
                                   "version or report the error; no data was lost.") from None
    except backup_service.BackupError as exc:
        raise click.ClickException(f"no upgrade: the backup before it failed ({exc}); the "
                                   "database is unchanged.") from None
    except sqlite3.Error as exc:
        raise click.ClickException(f"cannot open the database {cfg.db_path} ({exc}); if the "
                                   "file is damaged, restore a backup (never delete it).") from None


def main() -> None:
    from edge_node.store.outbox import RecoveryPending

    try:
        cli(prog_name="edge-node")
    except RecoveryPending:
        click.echo("Error: this node was restored from a backup and must sync with the "
                   "province once ('edge-node sync --once') before recording new work.",
                   err=True)
        sys.exit(1)
