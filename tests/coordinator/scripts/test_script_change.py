"""Changing a reservation's script through a pause (「リストやスクリプトを変更したい時は一時停止」):
PATCH {script_id} by the owning member while 申請中 or 一時停止, recorded in the history; a
list moved in with another script while paused changes it; a script that an approved
reservation sends with cannot be edited; and the next send really carries the new script
(a real worker job against a fixture site)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.reservations import service
from fixtures.server import FixtureServer
from shared import items, migrate
from shared.config import get_settings
from shared.db import make_engine, reset_engine
from shared.enums import Role
from shared.models import ReservationStatusChange, Script, SendItem, User
from tests.builders import (
    QA_SCRIPT,
    MemberEnv,
    list_url,
    make_operator,
    make_prospects,
    make_reservation,
    make_script,
    principal_of,
)


@pytest.fixture
def env(db, make_user) -> MemberEnv:  # type: ignore[no-untyped-def]
    return MemberEnv(db, make_user, tickets=2_000, prospects=700)


def _reserve(client, env: MemberEnv) -> dict:  # type: ignore[no-untyped-def]
    resp = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_member_changes_the_script_while_pending_and_paused_not_while_sending(
    client, db, make_user, env
) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _reserve(client, env)
    url = f"/api/v1/reservations/{r['id']}"
    second = make_script(db, env.member_id)
    resp = client.patch(url, json={"script_id": second.id}, headers=env.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["script_id"] == second.id
    line = resp.json()["history"][-1]
    assert line["actor_user_id"] == env.user.id and f"→ {second.id}" in line["reason"]
    client.post(f"{url}/approve", headers=op)
    # 承認済み: refused; the member is told to pause first.
    sending = client.patch(url, json={"script_id": env.script.id}, headers=env.headers)
    assert sending.status_code == 409 and sending.json()["error"]["code"] == "invalid_status"
    assert client.post(f"{url}/pause", json={}, headers=env.headers).status_code == 200
    back = client.patch(url, json={"script_id": env.script.id}, headers=env.headers)
    assert back.status_code == 200 and back.json()["script_id"] == env.script.id
    # Another member's script, or an operator: not theirs to choose.
    other = MemberEnv(db, make_user, tickets=1_000, prospects=0)
    foreign = client.patch(url, json={"script_id": other.script.id}, headers=env.headers)
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "script_not_found"
    assert client.patch(url, json={"script_id": second.id}, headers=op).status_code == 403
    assert client.patch(url, json={}, headers=env.headers).status_code == 400


def test_a_list_moved_in_with_another_script_while_paused_changes_it(
    client, db, make_user, env
) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _reserve(client, env)
    url = f"/api/v1/reservations/{r['id']}"
    client.post(f"{url}/approve", headers=op)
    second = make_script(db, env.member_id)
    industry = make_prospects(db, 700)
    body = {"list_url": list_url(industry), "count": 500, "script_id": second.id}
    # While sending, another script is still refused (pause first).
    refused = client.post(f"{url}/transfers", json=body, headers=env.headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "script_mismatch"
    client.post(f"{url}/pause", json={"remove_list": True}, headers=env.headers)
    moved = client.post(f"{url}/transfers", json=body, headers=env.headers)
    assert moved.status_code == 201, moved.text
    assert moved.json()["reservation"]["script_id"] == second.id
    assert moved.json()["reservation"]["queued"] == 500


def test_a_script_an_approved_reservation_sends_with_cannot_be_edited(
    client, db, make_user, env
) -> None:  # type: ignore[no-untyped-def]
    _, op = make_operator(db, make_user)
    r = _reserve(client, env)
    script_url = f"/api/v1/scripts/{env.script.id}"
    assert (
        client.patch(script_url, json={"subject": "申請中は可"}, headers=env.headers).status_code
        == 200
    )
    client.post(f"/api/v1/reservations/{r['id']}/approve", headers=op)
    resp = client.patch(script_url, json={"subject": "送信中は不可"}, headers=env.headers)
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"]["code"] == "script_sending"
    assert resp.json()["error"]["details"]["reservation_ids"] == [r["id"]]
    client.post(f"/api/v1/reservations/{r['id']}/pause", json={}, headers=env.headers)
    assert (
        client.patch(script_url, json={"subject": "停止中は可"}, headers=env.headers).status_code
        == 200
    )


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_the_next_send_carries_the_new_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real worker job per item: the first goes out with the old script, the script is
    changed through a pause, and the next one goes out with the new one."""
    old_words, new_words = "業務効率化のご提案でご連絡いたしました。", "新サービスのご案内です。"
    url = f"sqlite:///{tmp_path / 'mikomi.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with FixtureServer(generated=0) as server, Session(engine) as db:
        urls = [("一社", server.url_for("cf7-basic")), ("二社", server.url_for("address-full"))]
        reservation = make_reservation(db, urls=urls, senders=1)
        member_user = User(
            email="m@example.test", password_hash="x", role=Role.MEMBER.value,
            member_id=reservation.member_id, name="会員",
        )  # fmt: skip
        new = Script(
            member_id=reservation.member_id,
            name="新スクリプト",
            content={
                **QA_SCRIPT,
                "name": "新スクリプト",
                "body": QA_SCRIPT["body"].replace(old_words, new_words),
            },
        )
        db.add_all([member_user, new])
        old_script = reservation.script_id
        [(first, first_token)] = items.claim(db, reservation.id, 1)
        db.commit()
        monkeypatch.setenv("MIKOMI_DATABASE_URL", url)
        monkeypatch.setenv("MIKOMI_ALLOW_PRIVATE", "1")
        monkeypatch.setenv("MIKOMI_VAR_DIR", str(tmp_path))
        get_settings.cache_clear()
        reset_engine()
        from worker import jobs

        try:
            assert jobs.send_item(first, first_token)["attempted"]
            member = principal_of(member_user)
            service.pause(db, member, reservation.id)
            service.change_script(db, member, reservation.id, new.id)
            service.resume(db, member, reservation.id)
            db.commit()
            [(second, second_token)] = items.claim(db, reservation.id, 1)
            db.commit()
            assert jobs.send_item(second, second_token)["attempted"]
        finally:
            jobs.close_sender()
            get_settings.cache_clear()
            reset_engine()
        [before] = server.submissions("cf7-basic")
        [after] = server.submissions("address-full")
        assert old_words in before["fields"]["your-message"]
        assert (
            new_words in after["fields"]["comment"] and old_words not in after["fields"]["comment"]
        )
        reasons = db.scalars(
            select(ReservationStatusChange.reason).where(
                ReservationStatusChange.reservation_id == reservation.id
            )
        ).all()
        assert any("スクリプトを変更しました" in reason for reason in reasons)
        # Each item keeps the script it went out with (the results CSV's スクリプトID).
        db.expire_all()
        sent_with = {i: db.get(SendItem, i).script_id for i in (first, second)}  # type: ignore[union-attr]
        assert sent_with == {first: old_script, second: new.id}
    engine.dispose()
