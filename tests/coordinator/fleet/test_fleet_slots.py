"""The fleet's capacity: the browser slots its live worker processes offer and use, from their
heartbeats (worker/heartbeat.py), in GET /api/v1/fleet and on the フリート page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from shared import clock
from shared.models import FleetWorker
from tests.support.web import login


def _beat(db: Session, worker_id: str, slots: int, in_use: int, age_s: float = 0) -> None:
    now = clock.now()
    db.add(
        FleetWorker(
            id=worker_id,
            hostname=worker_id.split("-")[0],
            pid=len(worker_id),
            started_at=now - timedelta(hours=1),
            heartbeat_at=now - timedelta(seconds=age_s),
            state="running" if in_use else "idle",
            slots=slots,
            slots_in_use=in_use,
        )
    )
    db.flush()


def test_the_fleet_view_adds_up_the_slots_of_live_workers(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    _beat(db, "alpha-1", slots=12, in_use=12)
    _beat(db, "beta-2", slots=5, in_use=2)
    _beat(db, "gamma-3", slots=20, in_use=20, age_s=600)  # gone: not capacity any more
    operator_user, operator = make_user("operator")
    view = client.get("/api/v1/fleet", headers=operator).json()
    assert {w["id"]: (w["slots"], w["slots_in_use"]) for w in view["workers"]} == {
        "alpha-1": (12, 12),
        "beta-2": (5, 2),
    }
    assert (view["slots_offered"], view["slots_in_use"]) == (17, 14)

    login(client, operator_user)
    page = client.get("/operator/fleet").text
    assert '<b id="slots">14 / 17</b>' in page
    assert "12 / 12" in page and "2 / 5" in page
