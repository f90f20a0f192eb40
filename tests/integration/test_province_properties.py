"""Hypothesis: facts from the province, in any order and mixed with clerks' actions,
are never lost and never move a dossier by themselves where a person must decide."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_node.domain import lifecycle
from edge_node.domain.clock import to_iso
from edge_node.services import processing, province
from edge_node.store import dossiers as dossier_store
from edge_node.store.db import connect, write_tx
from tests.integration.lifecycle_helpers import World, vn
from tests.integration.test_lifecycle_properties import _legal, _template

NATIONAL = ("G22-0001", "G22-0002", "G22-0003")
fact = st.one_of(
    st.fixed_dictionaries({"kind": st.sampled_from(["withdrawal", "adjustment"]),
                           "MaHoSo": st.sampled_from(NATIONAL + ("G22-9999",)),
                           "reason": st.just("Theo yêu cầu")}),
    st.fixed_dictionaries({"kind": st.just("payment"),
                           "MaHoSo": st.sampled_from(NATIONAL + ("G22-9999",)),
                           "amount_vnd": st.sampled_from([50000, 40000, 120000]),
                           "transaction_id": st.sampled_from(["TX-1", "TX-2", "TX-3"])}),
    st.fixed_dictionaries({"kind": st.just("identity"),
                           "MaHoSo": st.sampled_from(NATIONAL),
                           "result": st.sampled_from(["verified", "rejected"])}),
)
step = st.one_of(st.tuples(st.just("fact"), fact),
                 st.tuples(st.just("act"), st.tuples(st.integers(0, 2), st.integers(0, 30))))


def _inbound(db, national: str, tthc: str, now) -> None:
    item = {"seq": 0, "kind": "dossier.inbound", "payload": {
        "received_at": to_iso(now), "dossier": {
            "MaHoSo": national, "MaTTHC": tthc, "ChuHoSo": "Quàng Thị Mai",
            "SoGiayToChuHoSo": "011185004321", "SoDienThoai": "0987654321", "HinhThuc": 0}}}
    with write_tx(db):
        province.feed_inbound(db, item, now)


def test_any_mix_of_facts_and_actions_keeps_every_fact_and_the_projection(tmp_path_factory):
    template = _template(tmp_path_factory)
    counter = iter(range(10**6))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(step, min_size=1, max_size=20))
    def run(steps):
        path = tmp_path_factory.getbasetemp() / f"pf-{next(counter)}.db"
        dst = sqlite3.connect(path)
        template.conn.backup(dst)
        dst.close()
        db = connect(path)
        try:
            world = World(db, vn(2026, 12, 7, 8, 0))
            for national, tthc in zip(NATIONAL, ("1.001731", "2.001019", "2.001019"),
                                      strict=True):
                _inbound(db, national, tthc, world.now)
            codes = [r["code"] for r in db.query("SELECT code FROM dossiers ORDER BY code")]
            for kind, what in steps:
                world.later(minutes=7)
                if kind == "act":
                    code = codes[what[0]]
                    choice = _legal(world, code, what[1])
                    if choice:
                        try:
                            world.act(code, *choice[:2], **choice[2])
                        except lifecycle.TransitionError:
                            pass
                    continue
                trail = db.conn.execute("SELECT count(*) FROM audit").fetchone()[0]
                before = {c: dossier_store.get(db, c) for c in codes}
                with write_tx(db):
                    province.feed_fact(db, {"seq": 0, "kind": "dossier.fact",
                                            "payload": what}, world.now)
                # nothing lost: every fact leaves a trace (event, flag or audit entry)
                assert db.conn.execute("SELECT count(*) FROM audit").fetchone()[0] > trail
                for code in codes:
                    row = dossier_store.get(db, code)
                    # a fact never withdraws, stops or decides by itself
                    if row["status"] != before[code]["status"]:
                        assert (what["kind"], before[code]["status"], row["status"]) == (
                            "payment", "CHO_NGHIA_VU_TAI_CHINH", "DANG_XU_LY")
                    assert row["fee_paid_vnd"] <= row["fee_vnd"]
                    if what["kind"] in ("withdrawal", "adjustment") and (
                            before[code]["status"] in lifecycle.DECIDED
                            or before[code]["status"] not in lifecycle.OPEN_STATES):
                        # too late to ask: flagged for a person, not put to the clerk
                        assert row["pending_request"] == before[code]["pending_request"]
            for code in codes:
                assert processing.projection_matches_events(db, code)
        finally:
            db.conn.close()

    run()
