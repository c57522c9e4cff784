"""送信時間帯: the window's rules in Japan time (days 1-7, [start, end), past midnight), the API
(set on creation, the member's default, PATCH while 申請中/一時停止 only, refused when
malformed), the page's form and the detail page's 「次に送信を始めるのは」."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from shared import clock, send_window
from tests.builders import (
    MemberEnv,
    list_url,
    make_operator,
    make_prospects,
)
from tests.support.web import csrf_of, login

WEEKDAYS = {"days": [1, 2, 3, 4, 5], "start": "09:00", "end": "18:00"}
MONDAY_10_JST = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_the_window_in_japan_time() -> None:
    assert send_window.is_open(WEEKDAYS, MONDAY_10_JST)
    assert not send_window.is_open(WEEKDAYS, MONDAY_10_JST + timedelta(hours=8))  # 18:00
    assert send_window.is_open(WEEKDAYS, MONDAY_10_JST + timedelta(hours=7, minutes=59))
    assert not send_window.is_open(WEEKDAYS, MONDAY_10_JST - timedelta(days=1))  # Sunday
    assert send_window.is_open(None, MONDAY_10_JST - timedelta(days=1))
    # Saturday 10:00 JST → opens Monday 09:00 JST.
    saturday = MONDAY_10_JST - timedelta(days=2)
    assert send_window.next_opening(WEEKDAYS, saturday) == MONDAY_10_JST - timedelta(hours=1)
    assert send_window.next_opening(WEEKDAYS, MONDAY_10_JST) is None
    # Friday 22:00 → 06:00 runs into Saturday morning.
    night = {"days": [5], "start": "22:00", "end": "06:00"}
    friday_23 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
    assert send_window.is_open(night, friday_23)
    assert send_window.is_open(night, friday_23 + timedelta(hours=6))  # Saturday 05:00
    assert not send_window.is_open(night, friday_23 + timedelta(hours=7))  # Saturday 06:00
    assert send_window.describe(WEEKDAYS) == "月・火・水・木・金 09:00〜18:00"
    assert send_window.describe(None) == "指定なし（いつでも）"


@pytest.mark.parametrize(
    "window",
    [
        {"days": [], "start": "09:00", "end": "18:00"},
        {"days": [0], "start": "09:00", "end": "18:00"},
        {"days": [8], "start": "09:00", "end": "18:00"},
        {"days": [1], "start": "25:00", "end": "18:00"},
        {"days": [1], "start": "09:00", "end": "09:00"},
        {"days": [1], "start": "9:00", "end": "18:00"},
    ],
)
def test_a_malformed_window_is_refused(window) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        send_window.normalize(window)


@pytest.fixture
def env(db: Session, make_user) -> MemberEnv:  # type: ignore[no-untyped-def]
    return MemberEnv(db, make_user, tickets=3_000, prospects=600)


def test_the_window_over_the_api(client, db: Session, make_user, env) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(MONDAY_10_JST - timedelta(days=2))  # Saturday
    _, op = make_operator(db, make_user)
    body = {**env.body(300), "send_window": WEEKDAYS, "remember_send_window": True}
    resp = client.post("/api/v1/reservations", json=body, headers=env.headers)
    assert resp.status_code == 201, resp.text
    r = resp.json()
    assert r["send_window"] == WEEKDAYS and r["send_window_ja"] == "月・火・水・木・金 09:00〜18:00"
    assert datetime.fromisoformat(r["next_window_at"]) == MONDAY_10_JST - timedelta(hours=1)
    # The next reservation without a window takes the member's default.
    second = client.post(
        "/api/v1/reservations",
        json=env.body(300, list_url=list_url(make_prospects(db, 600))),
        headers=env.headers,
    ).json()
    assert second["send_window"] == WEEKDAYS
    url = f"/api/v1/reservations/{r['id']}"
    bad = client.patch(url, json={"send_window": {**WEEKDAYS, "days": [9]}}, headers=env.headers)
    assert bad.status_code in (400, 422) and "send_window" in bad.text
    client.post(f"{url}/approve", headers=op)
    sending = client.patch(url, json={"send_window": None}, headers=env.headers)
    assert sending.status_code == 409
    client.post(f"{url}/pause", json={}, headers=env.headers)
    anytime = client.patch(url, json={"send_window": None}, headers=env.headers)
    assert anytime.status_code == 200, anytime.text
    assert anytime.json()["send_window"] is None and anytime.json()["next_window_at"] is None
    assert (
        "送信時間帯を変更しました（指定なし（いつでも））"
        in anytime.json()["history"][-1]["reason"]
    )
    # Operators set capacity, not a member's window.
    assert client.patch(url, json={"send_window": WEEKDAYS}, headers=op).status_code == 403


def test_the_window_on_the_pages(client, db: Session, make_user, env) -> None:  # type: ignore[no-untyped-def]
    clock.set_clock(MONDAY_10_JST - timedelta(days=2))  # Saturday 10:00 JST
    token = login(client, env.user)
    form = client.get("/reservations/new").text
    assert 'name="window_day_1"' in form and 'name="window_default"' in form
    data = {
        "csrf_token": token,
        "count": "300",
        "senders": "1",
        "list_url": env.list_url,
        "script_id": str(env.script.id),
        "window_mode": "window",
        "window_start": "09:00",
        "window_end": "18:00",
        "window_default": "1",
        **{f"window_day_{d}": "1" for d in (1, 3, 5)},
    }
    bad = client.post("/reservations/new", data={**data, "window_end": "09:00"})
    assert bad.status_code == 400 and 'id="err-send_window"' in bad.text
    resp = client.post("/reservations/new", data=data)
    assert resp.url.path == "/reservations", resp.text[-1500:]
    rid = int(re.findall(r'id="reservation-(\d+)"', resp.text)[0])
    detail = client.get(f"/reservations/{rid}").text
    assert "月・水・金 09:00〜18:00" in detail
    assert "次に送信を始めるのは 2026/11/30 09:00" in detail
    # The member's default is offered on the next form.
    form = client.get("/reservations/new").text
    assert re.search(r'name="window_day_3" value="1" checked', form)
    assert not re.search(r'name="window_day_2" value="1" checked', form)
    # While 申請中 the detail page changes it.
    resp = client.post(
        f"/reservations/{rid}/send-window",
        data={"csrf_token": csrf_of(detail), "window_mode": "any"},
    )
    assert resp.status_code == 200 and "指定なし（いつでも）" in resp.text
