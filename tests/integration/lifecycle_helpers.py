"""A small world for lifecycle tests: one node home, four accounts, a clock you set."""

from __future__ import annotations

from datetime import datetime, timedelta

from edge_node.domain.calendar import WorkCalendar
from edge_node.domain.clock import LOCAL_TZ
from edge_node.services import intake, processing
from edge_node.store import users as users_store
from tests.conftest import add_user, valid_dossier

CAL = WorkCalendar()


def vn(y, mo, d, h=9, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=LOCAL_TZ)


class World:
    """Acts on one database as named users at chosen instants."""

    def __init__(self, db, start: datetime):
        self.db = db
        self.now = start
        for name, role in (("canbo", "clerk"), ("chuyenvien", "officer"),
                           ("chuyenvien2", "officer"), ("lanhdao", "leader")):
            if users_store.get_by_username(db, name) is None:
                add_user(db, name, role)
        self.users = {u["username"]: u for u in users_store.list_all(db)}

    def later(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def receive(self, **changes) -> dict:
        from edge_node.store import settings

        agency = settings.get(self.db, "sync.agency_id") or "DEM.00.00.Z00"  # as the web does
        return intake.receive(self.db, valid_dossier(**changes), user=self.users["canbo"],
                              now=self.now, agency_id=agency, calendar=CAL)

    def act(self, code: str, action: str, who: str, **params) -> dict:
        return processing.act(self.db, code, action, params, user=self.users[who], now=self.now,
                              calendar=CAL)
