"""Chat: one thread per reservation between its member and the operators."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shared.enums import NotificationKind
from shared.models import Notification
from tests.builders import MemberEnv, make_operator


@pytest.fixture
def thread(client, db, make_user):  # type: ignore[no-untyped-def]
    env = MemberEnv(db, make_user, tickets=1_000, prospects=600)
    resp = client.post("/api/v1/reservations", json=env.body(300), headers=env.headers)
    assert resp.status_code == 201
    return env, resp.json()["id"]


def test_member_and_operator_talk(client, db, make_user, thread) -> None:  # type: ignore[no-untyped-def]
    env, rid = thread
    _, op = make_operator(db, make_user)
    url = f"/api/v1/reservations/{rid}/messages"
    first = client.post(url, json={"body": "  リストの件数について相談です  "}, headers=env.headers)
    assert first.status_code == 201, first.text
    assert first.json()["body"] == "リストの件数について相談です"
    assert first.json()["author_role"] == "member"
    to_ops = db.scalars(
        select(Notification).where(
            Notification.reservation_id == rid,
            Notification.kind == NotificationKind.CHAT_MESSAGE.value,
        )
    ).all()
    assert [(n.member_id, n.for_operators) for n in to_ops] == [(None, True)]
    reply = client.post(url, json={"body": "承知しました"}, headers=op)
    assert reply.status_code == 201 and reply.json()["author_role"] == "operator"
    member_notes = client.get("/api/v1/reservations", headers=env.headers).json()
    assert member_notes["reservations"][0]["chat_messages"] == 2
    both = client.get(url, headers=env.headers).json()["messages"]
    assert [m["body"] for m in both] == ["リストの件数について相談です", "承知しました"]
    newer = client.get(f"{url}?after_id={both[0]['id']}", headers=op).json()["messages"]
    assert [m["body"] for m in newer] == ["承知しました"]
    to_member = db.scalars(
        select(Notification).where(
            Notification.reservation_id == rid,
            Notification.kind == NotificationKind.CHAT_MESSAGE.value,
            Notification.member_id == env.member_id,
        )
    ).all()
    assert len(to_member) == 1


def test_chat_is_private_to_the_member(client, db, make_user, thread) -> None:  # type: ignore[no-untyped-def]
    env, rid = thread
    url = f"/api/v1/reservations/{rid}/messages"
    client.post(url, json={"body": "非公開"}, headers=env.headers)
    other = MemberEnv(db, make_user, tickets=0, prospects=0)
    assert client.get(url, headers=other.headers).status_code == 404
    assert client.post(url, json={"body": "覗き"}, headers=other.headers).status_code == 404
    assert client.get(url).status_code == 401


def test_empty_messages_are_refused(client, thread) -> None:  # type: ignore[no-untyped-def]
    env, rid = thread
    url = f"/api/v1/reservations/{rid}/messages"
    blank = client.post(url, json={"body": "   "}, headers=env.headers)
    assert blank.status_code == 400 and blank.json()["error"]["code"] == "message_empty"
    empty = client.post(url, json={"body": ""}, headers=env.headers)
    assert empty.status_code == 422
    too_long = client.post(url, json={"body": "あ" * 5_001}, headers=env.headers)
    assert too_long.status_code == 422


def test_the_chat_page_has_the_api_cap(client, thread) -> None:  # type: ignore[no-untyped-def]
    # The API refused 5,001 characters; the page took any length.
    from tests.support.web import login

    env, rid = thread
    csrf = login(client, env.user)
    page = f"/reservations/{rid}/chat"
    resp = client.post(page, data={"body": "あ" * 5_001, "csrf_token": csrf})
    assert resp.status_code == 400 and "5,000文字以内" in resp.text
    ok = client.post(page, data={"body": "あ" * 5_000, "csrf_token": csrf}, follow_redirects=False)
    assert ok.status_code == 303
    bodies = client.get(f"/api/v1/reservations/{rid}/messages", headers=env.headers).json()
    assert [len(m["body"]) for m in bodies["messages"]] == [5_000]
