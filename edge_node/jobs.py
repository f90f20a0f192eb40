"""Background jobs of a serving node (one APScheduler, started by ``serve`` only).

``create_app`` never starts it, so tests and WSGI imports stay quiet; the
home lock held by ``serve`` makes sure only one process runs these jobs.
"""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler

from edge_node.config import Config
from edge_node.domain.clock import now_utc
from edge_node.services import processing
from edge_node.services.calendar import load_calendar
from edge_node.store.db import connect

log = logging.getLogger(__name__)
HOUSEKEEPING_MINUTES = 10


STAGING_KEEP_DAYS = 7


def housekeeping(cfg: Config) -> list[str]:
    """Close dossiers whose supplement period ran out; drop old acknowledged batches.

    Returns the codes closed. Sealed batches stay until the hub acknowledges
    them and a week after, so staging never grows without bound.
    """
    from datetime import timedelta

    from edge_node.domain.clock import to_iso
    from edge_node.store.db import write_tx

    db = connect(cfg.db_path)
    try:
        closed = processing.close_expired(db, now=now_utc(),
                                          calendar=load_calendar(db, cfg.working_hours))
        with write_tx(db):
            db.conn.execute("DELETE FROM sync_batches WHERE acked_at IS NOT NULL AND"
                            " acked_at < ?",
                            (to_iso(now_utc() - timedelta(days=STAGING_KEEP_DAYS)),))
        from edge_node.services import attachments

        attachments.clean_orphans(db, cfg)  # files a crash left without their row
    finally:
        db.conn.close()
    if closed:
        log.info("closed %d dossiers after 15 days without supplement: %s", len(closed),
                 ", ".join(closed))
    return closed


class SyncJob:
    """Push then pull every interval while the link is up; back off after failures.

    Connectivity is found by trying: a failed round doubles the wait (up to a
    cap) and the first success returns to the normal interval. The job never
    raises, so one bad round cannot stop the scheduler.
    """

    def __init__(self, cfg: Config, clock=now_utc):
        self.cfg = cfg
        self.clock = clock
        self.failures = 0
        self.next_try = None

    def delay_after_failure(self) -> int:
        base = max(self.cfg.sync_interval_seconds, 1)
        return min(base * 2 ** min(self.failures, 16), self.cfg.sync_backoff_max_seconds)

    def __call__(self) -> str:
        from datetime import timedelta

        from edge_node.services import sync

        now = self.clock()
        if self.next_try is not None and now < self.next_try:
            return "waiting"
        db = connect(self.cfg.db_path)
        try:
            if sync.enrolled(db) is None:
                return "not_enrolled"
            report = sync.sync_once(db, self.cfg, now_fn=self.clock)
        except Exception:  # never let one round kill the scheduler
            log.exception("sync round crashed")
            report = None
        finally:
            db.conn.close()
        if report is None or report.error:
            self.failures += 1
            self.next_try = now + timedelta(seconds=self.delay_after_failure())
            log.info("sync failed (%s); next try after %s", report and report.error,
                     self.next_try.isoformat())
            return "failed"
        self.failures, self.next_try = 0, None
        files = (report.attachments or {}).get("sent", 0)
        if report.pushed_events or report.pulled_items or files:
            log.info("synced: %d events sent, %d attachment files sent, %d items received",
                     report.pushed_events, files, report.pulled_items)
        return "ok"


BACKUP_CHECK_MINUTES = 15


def backup_job(cfg: Config, now=None) -> str | None:
    """Make today's backup once the backup hour has come, then rotate (7 daily, 4 weekly).

    Checked every few minutes rather than at one instant, so a PC switched on
    after the hour still gets its backup that day. Returns the file written.
    """
    from edge_node.services import backup as backup_service

    now = now or now_utc()
    db = connect(cfg.db_path)
    try:
        last_at, _ = backup_service.last_backup(db)
    finally:
        db.conn.close()
    if not backup_service.scheduled_backup_due(cfg, last_at, now):
        return None
    try:
        result = backup_service.create_backup(cfg, now=now, prefix=backup_service.AUTO_PREFIX)
    except backup_service.BackupError as exc:
        log.error("daily backup failed: %s", exc)
        return None
    removed = backup_service.rotate(result.path.parent)
    log.info("daily backup %s written; %d old backups removed", result.path.name, len(removed))
    return str(result.path)


def start_scheduler(cfg: Config) -> BackgroundScheduler:
    """Start the node's scheduler; the caller shuts it down on exit (``scheduler.shutdown``).

    The home lock held by ``serve`` guarantees one scheduler per home, so only
    one process ever syncs.
    """
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    scheduler.add_job(housekeeping, "interval", minutes=HOUSEKEEPING_MINUTES, args=[cfg],
                      id="housekeeping", next_run_time=now_utc())
    if cfg.backup_enabled:
        scheduler.add_job(backup_job, "interval", minutes=BACKUP_CHECK_MINUTES, args=[cfg],
                          id="backup", next_run_time=now_utc())
    if cfg.sync_interval_seconds > 0:
        scheduler.add_job(SyncJob(cfg), "interval", seconds=cfg.sync_interval_seconds,
                          jitter=max(1, cfg.sync_interval_seconds // 10), id="sync",
                          next_run_time=now_utc())
    scheduler.start()
    return scheduler
