"""Scripts over the API (docs/rules.md#scripts): the script JSON, validation, placeholders,
opt-out link, preview."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy.orm import Session

from shared.enums import ReservationStatus
from shared.models import Prospect
from tests.builders import FULL_SCRIPT, make_bare_reservation


def script(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(FULL_SCRIPT)
    for key, value in changes.items():
        if key.startswith("sender__"):
            body["sender"][key[8:]] = value
        else:
            body[key] = value
    return body


def test_spec_script_round_trips(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=h)
    assert resp.status_code == 201, resp.text
    saved = resp.json()
    assert saved["label"] == f"{saved['id']} : 顧客獲得スクリプト"
    assert saved["sender"] == FULL_SCRIPT["sender"]
    assert saved["body"] == FULL_SCRIPT["body"]  # already carries {{optout_url}}: unchanged
    assert saved["inquiry_type_preference"] == ["その他", "ご提案", "お問い合わせ"]
    listed = client.get("/api/v1/scripts", headers=h).json()["scripts"]
    assert [s["id"] for s in listed] == [saved["id"]]
    assert client.get(f"/api/v1/scripts/{saved['id']}", headers=h).json() == saved


def test_the_optout_link_is_added_when_missing(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    saved = client.post(
        "/api/v1/scripts", json=script(body="{{company}} 御中\nご提案です。"), headers=h
    ).json()
    assert saved["body"].startswith("{{company}} 御中\nご提案です。\n\n")
    assert saved["body"].rstrip().endswith("{{optout_url}}")
    # Editing the body away from the link brings it back.
    patched = client.patch(
        f"/api/v1/scripts/{saved['id']}", json={"body": "短い本文"}, headers=h
    ).json()
    assert patched["body"].startswith("短い本文\n\n") and "{{optout_url}}" in patched["body"]


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"name": " "}, "script_name_required", "name"),
        ({"body": "\n\n"}, "body_required", "body"),
        ({"subject": ""}, "subject_required", "subject"),
        ({"sender__company": ""}, "sender_company_required", "sender.company"),
        ({"sender__last_name": ""}, "sender_last_name_required", "sender.last_name"),
        ({"sender__email": ""}, "sender_email_required", "sender.email"),
        ({"sender__phone": ""}, "sender_phone_required", "sender.phone"),
        ({"sender__email": "taro@"}, "invalid_email", "sender.email"),
        ({"sender__phone": "03-1234"}, "invalid_phone", "sender.phone"),
        ({"sender__phone": "call me"}, "invalid_phone", "sender.phone"),
        ({"sender__postal_code": "1000"}, "invalid_postal_code", "sender.postal_code"),
        ({"sender__prefecture": "東京州"}, "invalid_prefecture", "sender.prefecture"),
        ({"sender__url": "example.co.jp"}, "invalid_url", "sender.url"),
        ({"sender__url": "javascript:alert(1)"}, "invalid_url", "sender.url"),
        ({"sender__last_name_kana": "Yamada"}, "invalid_kana", "sender.last_name_kana"),
        ({"body": "{{company}} 様 {{price}}"}, "unknown_placeholder", "body"),
        ({"subject": "{{name}}様へ"}, "unknown_placeholder", "subject"),
        ({"body": "{{company} 様 {{optout_url}}"}, "malformed_placeholder", "body"),
    ],
)
def test_invalid_scripts_are_refused_with_a_code_and_field(
    client, make_user, changes, code, field
) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/scripts", json=script(**changes), headers=h)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert (err["code"], err["field"]) == (code, field)
    assert err["message"]
    assert client.get("/api/v1/scripts", headers=h).json()["scripts"] == []


def test_unknown_placeholder_message_names_it(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    err = client.post("/api/v1/scripts", json=script(body="{{ price }}円"), headers=h).json()[
        "error"
    ]
    assert "{{ price }}" in err["message"] and "{{company}}" in err["message"]


def test_values_are_normalized(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    saved = client.post(
        "/api/v1/scripts",
        json=script(
            sender__phone="０３－１２３４－５６７８".replace("－", "-"),
            sender__last_name_kana="ﾔﾏﾀﾞ",
            sender__prefecture="東京",
            sender__email=" taro@example.co.jp ",
            name="  名前  ",
            body="{{ company }} 様\r\nよろしくお願いします。 {{optout_url}}",
        ),
        headers=h,
    ).json()
    assert saved["sender"]["phone"] == "03-1234-5678"
    assert saved["sender"]["last_name_kana"] == "ヤマダ"
    assert saved["sender"]["prefecture"] == "東京都"
    assert saved["sender"]["email"] == "taro@example.co.jp"
    assert saved["name"] == "名前"
    assert saved["body"] == "{{ company }} 様\nよろしくお願いします。 {{optout_url}}"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"name": 7, "sender": {}, "body": "x"}, 422),  # wrong type
        ({**FULL_SCRIPT, "sender": {**FULL_SCRIPT["sender"], "lastname": "山田"}}, 422),  # typo key
        ({**FULL_SCRIPT, "extra": 1}, 422),
        ({**FULL_SCRIPT, "inquiry_type_preference": "その他"}, 422),
        ({**FULL_SCRIPT, "inquiry_type_preference": ["x"] * 21}, 422),
        ({**FULL_SCRIPT, "body": "あ" * 10_001}, 422),
        ({k: v for k, v in FULL_SCRIPT.items() if k != "sender"}, 422),
    ],
)
def test_wrong_shapes_are_422(client, make_user, payload, status) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    resp = client.post("/api/v1/scripts", json=payload, headers=h)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == "invalid_request"


def test_malformed_and_oversized_bodies(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    bad = client.post(
        "/api/v1/scripts",
        content=b'{"name": "x", ',
        headers={**h, "content-type": "application/json"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    huge = client.post(
        "/api/v1/scripts",
        content=b"{" + b" " * 1_100_000 + b"}",
        headers={**h, "content-type": "application/json"},
    )
    assert huge.status_code == 413 and huge.json()["error"]["code"] == "payload_too_large"


def test_patch_merges_sender_keys_and_validates_the_whole(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    sid = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=h).json()["id"]
    resp = client.patch(
        f"/api/v1/scripts/{sid}",
        json={"name": "新スクリプト", "sender": {"position": "課長"}},
        headers=h,
    )
    assert resp.status_code == 200
    got = resp.json()
    assert got["name"] == "新スクリプト" and got["label"] == f"{sid} : 新スクリプト"
    assert got["sender"]["position"] == "課長" and got["sender"]["last_name"] == "山田"
    bad = client.patch(f"/api/v1/scripts/{sid}", json={"sender": {"email": "nope"}}, headers=h)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_email"
    assert (
        client.get(f"/api/v1/scripts/{sid}", headers=h).json()["sender"]["email"]
        == "taro@example.co.jp"
    )


def test_preview_renders_for_a_chosen_prospect(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, h = make_user("member")
    sid = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=h).json()["id"]
    prospect = Prospect(
        company="株式会社プレビュー", url="https://preview.example.jp", domain="preview.example.jp"
    )
    db.add(prospect)
    db.commit()
    resp = client.get(f"/api/v1/scripts/{sid}/preview?prospect_id={prospect.id}", headers=h)
    assert resp.status_code == 200
    p = resp.json()
    assert p["subject"] == "業務効率化のご提案"
    assert p["body"].startswith(
        "株式会社プレビュー\nご担当者様\n\n株式会社サンプルの山田 太郎と申します。"
    )
    assert p["optout_url"] in p["body"] and "{{" not in p["body"]
    sample = client.get(f"/api/v1/scripts/{sid}/preview", headers=h).json()
    assert sample["body"].startswith("株式会社サンプル\n")
    assert (
        client.get(f"/api/v1/scripts/{sid}/preview?prospect_id=99999999", headers=h).status_code
        == 404
    )


def test_delete_hides_and_is_refused_while_a_reservation_uses_it(
    db: Session, client, make_user
) -> None:  # type: ignore[no-untyped-def]
    me, h = make_user("member")
    sid = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=h).json()["id"]
    res = make_bare_reservation(db, me.member_id)
    res.script_id = sid
    db.commit()
    busy = client.delete(f"/api/v1/scripts/{sid}", headers=h)
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "script_in_use"
    res.status = ReservationStatus.COMPLETED.value
    db.commit()
    assert client.delete(f"/api/v1/scripts/{sid}", headers=h).status_code == 204
    assert client.get(f"/api/v1/scripts/{sid}", headers=h).status_code == 404
    assert sid not in [s["id"] for s in client.get("/api/v1/scripts", headers=h).json()["scripts"]]
    assert client.delete(f"/api/v1/scripts/{sid}", headers=h).status_code == 404


def test_scripts_are_private_to_their_member(client, make_user) -> None:  # type: ignore[no-untyped-def]
    a, ha = make_user("member", company="A社")
    _, hb = make_user("member", company="B社")
    _, op = make_user("operator")
    sid = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=ha).json()["id"]
    for method, url, body in [
        ("GET", f"/api/v1/scripts/{sid}", None),
        ("PATCH", f"/api/v1/scripts/{sid}", {"name": "乗っ取り"}),
        ("DELETE", f"/api/v1/scripts/{sid}", None),
        ("GET", f"/api/v1/scripts/{sid}/preview", None),
    ]:
        assert client.request(method, url, json=body).status_code == 401  # anonymous
        assert client.request(method, url, json=body, headers=hb).status_code == 404  # B: not found
    assert client.get("/api/v1/scripts", headers=hb).json()["scripts"] == []
    assert client.get("/api/v1/scripts").status_code == 401
    assert client.post("/api/v1/scripts", json=FULL_SCRIPT).status_code == 401
    # The operator reads every script (and one member's), but scripts are the member's to write.
    assert sid in [s["id"] for s in client.get("/api/v1/scripts", headers=op).json()["scripts"]]
    assert [
        s["id"]
        for s in client.get(f"/api/v1/scripts?member_id={a.member_id}", headers=op).json()[
            "scripts"
        ]
    ] == [sid]
    assert client.get(f"/api/v1/scripts/{sid}/preview", headers=op).status_code == 200
    assert client.patch(f"/api/v1/scripts/{sid}", json={"name": "x"}, headers=op).status_code == 403
    assert client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=op).status_code == 403
    assert client.get(f"/api/v1/scripts/{sid}", headers=ha).json()["name"] == "顧客獲得スクリプト"


@pytest.mark.timeout(20)
def test_a_hostile_body_is_refused_at_once(client, make_user) -> None:  # type: ignore[no-untyped-def]
    # "{{" and thousands of spaces held the GIL for minutes with the old placeholder pattern.
    _, h = make_user("member")
    resp = client.post("/api/v1/scripts", json=script(body="{{" + " " * 9998), headers=h)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == "malformed_placeholder"
