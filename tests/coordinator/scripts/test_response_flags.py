"""A script's 反響 switches (docs/rules.md#reply-addresses, docs/rules.md#click-counting):
``capture_replies`` and ``track_clicks`` are booleans of the script JSON, off when left out,
set over the API and on the script form."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from shared.models import Script
from tests.builders import FULL_SCRIPT
from tests.support.web import csrf_of, login


def test_the_switches_round_trip_over_the_api(client: TestClient, make_user: Any) -> None:
    _, h = make_user("member")
    plain = client.post("/api/v1/scripts", json=FULL_SCRIPT, headers=h).json()
    assert (plain["capture_replies"], plain["track_clicks"]) == (False, False)
    made = client.post(
        "/api/v1/scripts", json={**FULL_SCRIPT, "capture_replies": True, "track_clicks": True},
        headers=h,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    assert (made.json()["capture_replies"], made.json()["track_clicks"]) == (True, True)
    patched = client.patch(
        f"/api/v1/scripts/{made.json()['id']}", json={"track_clicks": False}, headers=h
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["capture_replies"], patched.json()["track_clicks"]) == (True, False)
    for wrong in ("yes", 1, None):
        refused = client.post(
            "/api/v1/scripts", json={**FULL_SCRIPT, "capture_replies": wrong}, headers=h
        )
        assert refused.status_code == 422, (wrong, refused.text)


def test_the_script_form_sets_them(client: TestClient, db: Session, make_user: Any) -> None:
    user, _ = make_user("member")
    login(client, user)
    page = client.get("/scripts/new")
    assert 'name="capture_replies"' in page.text and 'name="track_clicks"' in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "name": "返信を受け取るスクリプト",
        "subject": FULL_SCRIPT["subject"],
        "body": FULL_SCRIPT["body"],
        "capture_replies": "1",
        **{f"sender.{k}": v for k, v in FULL_SCRIPT["sender"].items()},
    }
    saved = client.post("/scripts/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    script = db.query(Script).filter(Script.name == "返信を受け取るスクリプト").one()
    assert (script.content["capture_replies"], script.content["track_clicks"]) == (True, False)
    edit = client.get(f"/scripts/{script.id}/edit").text
    assert 'name="capture_replies" value="1" checked' in edit
    assert 'name="track_clicks" value="1" checked' not in edit
    # Unticked on the edit form: off again.
    form = {**form, "csrf_token": csrf_of(edit)}
    del form["capture_replies"]
    assert (
        client.post(f"/scripts/{script.id}/edit", data=form, follow_redirects=False).status_code
        == 303
    )
    db.refresh(script)
    assert script.content["capture_replies"] is False
