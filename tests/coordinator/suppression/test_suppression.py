"""Suppression: the global list, members' NG lists, and the public opt-out link."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from coordinator.prospects import search
from shared import suppression
from shared.models import Prospect, SendItem, Suppression
from tests.builders import make_bare_reservation, make_member


def test_shared_checks_global_and_member_lists(db: Session) -> None:
    a, b = make_member(db, tickets=0, company="A"), make_member(db, tickets=0, company="B")
    suppression.suppress(db, "https://www.global.jp/x", reason="complaint")
    suppression.suppress(db, "ng.jp", reason="ng", member_id=a.id)
    assert suppression.is_suppressed(db, "global.jp", a.id)
    assert suppression.is_suppressed(db, "http://GLOBAL.jp:8080/", None)
    assert suppression.is_suppressed(db, "ng.jp", a.id)
    assert not suppression.is_suppressed(db, "ng.jp", b.id)
    assert not suppression.is_suppressed(db, "ng.jp", None)
    assert not suppression.is_suppressed(db, "other.jp", a.id)
    assert not suppression.is_suppressed(db, "", a.id)


def test_suppress_is_idempotent(db: Session) -> None:
    a = make_member(db, tickets=0)
    first = suppression.suppress(db, "twice.jp", reason="optout")
    again = suppression.suppress(db, "www.twice.jp", reason="complaint")
    assert first.id == again.id and again.reason == "optout"
    ng1 = suppression.suppress(db, "twice.jp", reason="ng", member_id=a.id)
    ng2 = suppression.suppress(db, "twice.jp", reason="ng", member_id=a.id)
    assert ng1.id == ng2.id != first.id
    rows = db.scalars(select(Suppression).where(Suppression.domain == "twice.jp")).all()
    assert len(rows) == 2
    with pytest.raises(ValueError):
        suppression.suppress(db, "not a domain", reason="manual")


def test_unsuppress(db: Session) -> None:
    suppression.suppress(db, "gone.jp", reason="manual")
    assert suppression.unsuppress(db, "https://gone.jp/")
    assert not suppression.unsuppress(db, "gone.jp")
    assert not suppression.is_suppressed(db, "gone.jp", None)


# --- the global list over HTTP ---------------------------------------------------------------


def test_operator_manages_the_global_list(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, op = make_user("operator")
    resp = client.post(
        "/api/v1/suppressions",
        headers=op,
        json={
            "domain": "https://www.Complaint.co.jp/form",
            "reason": "complaint",
            "note": "電話で苦情",
        },
    )
    assert resp.status_code == 201
    entry = resp.json()
    assert (entry["domain"], entry["reason"], entry["note"]) == (
        "complaint.co.jp",
        "complaint",
        "電話で苦情",
    )
    listed = client.get("/api/v1/suppressions?domain=complaint", headers=op).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == entry["id"]
    assert client.delete(f"/api/v1/suppressions/{entry['id']}", headers=op).status_code == 204
    assert client.get("/api/v1/suppressions", headers=op).json()["total"] == 0
    assert client.delete(f"/api/v1/suppressions/{entry['id']}", headers=op).status_code == 404


def test_a_bad_domain_is_a_clear_400(client, make_user, db) -> None:  # type: ignore[no-untyped-def]
    _, op = make_user("operator")
    db.commit()
    resp = client.post(
        "/api/v1/suppressions", headers=op, json={"domain": "ここはドメインではない"}
    )
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_domain"
    resp = client.post("/api/v1/suppressions", headers=op, json={"domain": "a.jp", "reason": "x"})
    assert resp.status_code == 422


def test_members_cannot_touch_the_global_list(client, make_user, db) -> None:  # type: ignore[no-untyped-def]
    _, member = make_user("member")
    db.commit()
    assert client.get("/api/v1/suppressions").status_code == 401
    assert client.post("/api/v1/suppressions", json={"domain": "a.jp"}).status_code == 401
    assert client.get("/api/v1/suppressions", headers=member).status_code == 403
    assert (
        client.post("/api/v1/suppressions", headers=member, json={"domain": "a.jp"}).status_code
        == 403
    )
    entry = suppression.suppress(db, "kept.jp", reason="optout")
    db.commit()
    assert client.delete(f"/api/v1/suppressions/{entry.id}", headers=member).status_code == 403
    assert suppression.is_suppressed(db, "kept.jp", None)


# --- NG lists --------------------------------------------------------------------------------


def test_ng_list_is_per_member(client, make_user, db) -> None:  # type: ignore[no-untyped-def]
    user_a, a = make_user("member", company="A社")
    user_b, b = make_user("member", company="B社")
    _, op = make_user("operator")
    db.commit()
    resp = client.post(
        "/api/v1/ng-domains", headers=a, json={"domain": "rival.co.jp", "note": "競合"}
    )
    assert resp.status_code == 201
    entry_id = resp.json()["id"]
    assert (
        client.post("/api/v1/ng-domains", headers=a, json={"domain": "www.rival.co.jp"}).json()[
            "id"
        ]
        == entry_id
    )  # idempotent

    assert [e["domain"] for e in client.get("/api/v1/ng-domains", headers=a).json()["items"]] == [
        "rival.co.jp"
    ]
    assert client.get("/api/v1/ng-domains", headers=b).json() == {"total": 0, "items": []}
    # B can neither see nor delete A's entry; the answer does not even confirm it exists
    assert client.delete(f"/api/v1/ng-domains/{entry_id}", headers=b).status_code == 404
    # A's NG list is not the global list, and binds only A
    assert client.get("/api/v1/suppressions", headers=op).json()["total"] == 0
    assert suppression.is_suppressed(db, "rival.co.jp", user_a.member_id)
    assert not suppression.is_suppressed(db, "rival.co.jp", user_b.member_id)
    # operators have no NG list of their own; anonymous gets 401
    assert client.get("/api/v1/ng-domains", headers=op).status_code == 403
    assert client.get("/api/v1/ng-domains").status_code == 401
    assert client.delete(f"/api/v1/ng-domains/{entry_id}", headers=a).status_code == 204
    assert not suppression.is_suppressed(db, "rival.co.jp", user_a.member_id)


# --- opt-out ---------------------------------------------------------------------------------


def _sent_item(db: Session, domain: str, token: str) -> SendItem:
    member = make_member(db, tickets=0, company="送信元株式会社")
    prospect = Prospect(company="宛先株式会社", url=f"https://{domain}/", domain=domain)
    db.add(prospect)
    reservation = make_bare_reservation(db, member.id, status="approved")
    item = SendItem(
        reservation_id=reservation.id,
        member_id=member.id,
        prospect_id=prospect.id,
        domain=domain,
        url=prospect.url,
        company=prospect.company,
        state="sent",
        optout_token=token,
    )
    db.add(item)
    db.commit()
    return item


def test_opt_out_suppresses_the_domain_for_good(client, db) -> None:  # type: ignore[no-untyped-def]
    token = "tok-" + "x" * 28
    item = _sent_item(db, "optout.co.jp", token)
    # Following the link (as a mail scanner would) only asks: nothing is suppressed yet.
    resp = client.get(f"/optout/{token}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "配信停止の確認" in resp.text and "optout.co.jp" in resp.text
    assert f'<form method="post" action="/optout/{token}">' in resp.text
    assert not suppression.is_suppressed(db, "optout.co.jp", None)
    resp = client.post(f"/optout/{token}")
    assert resp.status_code == 200 and "配信停止を受け付けました" in resp.text
    entry = db.scalars(select(Suppression).where(Suppression.domain == "optout.co.jp")).one()
    assert entry.member_id is None and entry.reason == "optout"
    # for every member, in every search that excludes suppressed domains, and for the queue
    other = make_member(db, tickets=0, company="別の会員")
    assert suppression.is_suppressed(db, "optout.co.jp", other.id)
    # (other tests' committed prospects may share the database: look for this domain only)
    queue = search.select_for_queue(db, search.ProspectQuery(), other.id, 1_000_000)
    assert "optout.co.jp" not in {p.domain for p in queue}
    # idempotent: following the link again (or a one-click POST) changes nothing
    assert client.get(f"/optout/{token}").status_code == 200
    assert client.post(f"/optout/{token}").status_code == 200
    assert (
        len(db.scalars(select(Suppression).where(Suppression.domain == "optout.co.jp")).all()) == 1
    )
    assert item.id


def test_unknown_opt_out_token_is_a_404_page(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/optout/unknown-token")
    assert resp.status_code == 404
    assert resp.headers["content-type"].startswith("text/html")
    assert "無効" in resp.text
    assert client.get("/optout/" + "a" * 200).status_code == 404
