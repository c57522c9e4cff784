"""GET /metrics: one scrape sees the fleet — sends counted in Redis as they finish, the rest
read from the database — and MIKOMI_METRICS_TOKEN closes it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from shared import clock, items
from shared.config import get_settings
from shared.db import transaction
from shared.models import FleetWorker
from tests.builders import make_reservation


def _value(text: str, sample: str) -> float:
    match = re.search(rf"^{re.escape(sample)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_one_scrape_sees_sends_items_workers_and_services(db: Session, client) -> None:  # type: ignore[no-untyped-def]
    sent = 'mikomi_sends_total{reason="",status="sent"}'
    refused = 'mikomi_sends_total{reason="refused_sales",status="skipped"}'
    before = client.get("/metrics").text
    reservation = make_reservation(db, items=3, senders=3)
    claimed = items.claim(db, reservation.id, 3)
    for item_id, token in claimed:
        items.start(db, item_id, token, "host-a-1")
    (a, ta), (b, tb), _running = claimed
    with transaction(db):  # the counts are made once this commits
        items.record_outcome(db, a, ta, items.Outcome("sent", elapsed_ms=3_500))
        items.record_outcome(db, b, tb, items.Outcome("skipped", "refused_sales", elapsed_ms=800))
    now = clock.now()
    db.add_all(
        [
            FleetWorker(id="host-a-1", hostname="host-a", pid=1, started_at=now,
                        heartbeat_at=now, state="running", sends=1),
            FleetWorker(id="host-b-7", hostname="host-b", pid=7, started_at=now,
                        heartbeat_at=now, state="idle", sends=0),
            FleetWorker(id="gone", hostname="host-c", pid=9, started_at=now,
                        heartbeat_at=now - timedelta(minutes=5), state="idle", sends=0),
            FleetWorker(id="dispatcher-x-1", hostname="host-x", pid=1, started_at=now,
                        heartbeat_at=now - timedelta(seconds=42), state="dispatcher", sends=0),
        ]
    )  # fmt: skip
    db.commit()
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert _value(text, sent) - _value(before, sent) == 1
    assert _value(text, refused) - _value(before, refused) == 1
    count = "mikomi_send_duration_seconds_count"
    assert _value(text, count) - _value(before, count) == 2
    le5 = 'mikomi_send_duration_seconds_bucket{le="5.0"}'
    le1 = 'mikomi_send_duration_seconds_bucket{le="1.0"}'
    assert _value(text, le5) - _value(before, le5) == 2
    assert _value(text, le1) - _value(before, le1) == 1
    assert _value(text, 'mikomi_items{state="in_flight"}') >= 1
    assert _value(text, 'mikomi_workers_alive{host="host-a"}') == 1
    assert _value(text, 'mikomi_workers_alive{host="host-b"}') == 1
    assert 'mikomi_workers_alive{host="host-c"}' not in text  # its heartbeat is old
    age = _value(text, 'mikomi_service_heartbeat_age_seconds{host="host-x",service="dispatcher"}')
    assert 41 <= age <= 60
    assert "mikomi_dispatch_lag_seconds" in text and "mikomi_in_doubt_items" in text


def test_the_token_closes_it(client, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MIKOMI_METRICS_TOKEN", "scrape-secret")
    get_settings.cache_clear()
    try:
        assert client.get("/metrics").status_code == 401
        bad = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
        assert ok.status_code == 200 and "mikomi_items" in ok.text
    finally:
        get_settings.cache_clear()


def test_the_fleet_page_turns_red_for_a_stale_service(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    from tests.support.web import login

    op, _ = make_user("operator", company=None)
    now = clock.now()
    db.add(FleetWorker(id="sweeper-y-2", hostname="host-y", pid=2, started_at=now,
                       heartbeat_at=now - timedelta(minutes=3), state="sweeper", sends=0))  # fmt: skip
    db.commit()
    login(client, op)
    page = client.get("/operator/fleet").text
    services = page.split('id="services"')[1].split("</table>")[0]
    assert '<tr class="alert"><td>sweeper</td><td>host-y</td>' in services
    # the dispatcher never beat in this database: shown as not started, in red too
    assert '<tr class="alert"><td>dispatcher</td>' in services
