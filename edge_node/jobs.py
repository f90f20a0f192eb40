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


def housekeeping(cfg: Config) -> list[str]:
    """Close dossiers whose supplement period ran out; returns their codes."""
    db = connect(cfg.db_path)
    try:
        closed = processing.close_expired(db, now=now_utc(),
                                          calendar=load_calendar(db, cfg.working_hours))
    finally:
        db.conn.close()
    if closed:
        log.info("closed %d dossiers after 15 days without supplement: %s", len(closed),
                 ", ".join(closed))
    return closed


def start_scheduler(cfg: Config) -> BackgroundScheduler:
    """Start the node's scheduler; the caller shuts it down on exit."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={
        "coalesce": True, "max_instances": 1, "misfire_grace_time": 300})
    scheduler.add_job(housekeeping, "interval", minutes=HOUSEKEEPING_MINUTES, args=[cfg],
                      id="housekeeping", next_run_time=now_utc())
    scheduler.start()
    return scheduler
