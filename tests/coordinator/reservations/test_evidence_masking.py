"""Evidence as members read it: the prospect's opt-out token is masked (whoever holds it can
opt that company out for every member); operators read it whole."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shared.models import SendItem
from tests.builders import make_reservation


def test_members_never_read_an_opt_out_token(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    from tests.support.web import login

    member_user, member = make_user("member")
    _, operator = make_user("operator", company=None)
    reservation = make_reservation(db, items=1)
    reservation.member_id = member_user.member_id
    item = db.query(SendItem).filter_by(reservation_id=reservation.id).one()
    item.member_id = member_user.member_id
    item.optout_token = "tok-" + "s" * 28
    optout_url = f"http://127.0.0.1:8000/optout/{item.optout_token}"
    item.state, item.evidence = (
        "sent",
        {
            "fields": [
                {"name": "message", "role": "message", "value": f"本文\n配信停止: {optout_url}"}
            ]
        },
    )
    db.commit()
    url = f"/api/v1/reservations/{reservation.id}/items"
    seen = client.get(url, headers=member).text
    assert item.optout_token not in seen and "配信停止: http://127.0.0.1:8000/optout/••••" in seen
    assert item.optout_token in client.get(url, headers=operator).text
    login(client, member_user)
    page = client.get(f"/items/{item.id}").text
    assert item.optout_token not in page and "/optout/••••" in page
