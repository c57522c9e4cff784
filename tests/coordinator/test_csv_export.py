"""Every CSV download: formula cells neutralised, the page's filters honoured, streamed."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy.orm import Session

from coordinator import csv_export
from shared.models import Prospect, SendItem
from tests.builders import make_reservation

HOSTILE = ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("cell", HOSTILE)
def test_formula_cells_become_text(cell: str) -> None:
    assert csv_export.safe_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["株式会社A", "03-1234-5678", "", None, 12, "a=b"])
def test_other_cells_are_kept(cell: object) -> None:
    assert csv_export.safe_cell(cell) == ("" if cell is None else cell)


def _rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))


def test_results_csv_neutralises_and_filters(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    op, headers = make_user("operator", company=None)  # operators see every reservation
    reservation = make_reservation(db, items=3)
    queued = db.query(SendItem).filter_by(reservation_id=reservation.id).order_by(SendItem.id)
    first, second = queued.limit(2).all()
    first.company = '=HYPERLINK("http://evil.example/","開く")'
    second.state, second.reason = "failed", "no_form"
    db.commit()
    api = client.get(f"/api/v1/reservations/{reservation.id}/items.csv", headers=headers)
    assert api.status_code == 200 and api.headers["content-type"].startswith("text/csv")
    rows = _rows(api.content)
    assert any(row[1] == "'" + first.company for row in rows[1:])
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows[1:] for cell in row)
    filtered = client.get(
        f"/api/v1/reservations/{reservation.id}/items.csv",
        params={"status": "failed", "reason": "no_form"},
        headers=headers,
    )
    assert [row[0] for row in _rows(filtered.content)[1:]] == [str(second.id)]
    # The page's download link carries the page's filters, and the download honours them.
    login = {"email": op.email, "password": "password-123"}
    assert client.post("/api/v1/auth/session", json=login).status_code == 200
    page = client.get(f"/reservations/{reservation.id}?state=failed&reason=no_form").text
    link = f"/reservations/{reservation.id}/results.csv?state=failed&amp;reason=no_form"
    assert link in page
    web = client.get(link.replace("&amp;", "&"))
    assert [row[0] for row in _rows(web.content)[1:]] == [str(second.id)]


def test_prospect_csv_neutralises(db: Session, client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("member")
    db.add(
        Prospect(
            company="@cmd|' /C calc'!A0",
            domain="csv-hostile.example",
            url="https://csv-hostile.example/",
            industry="製造業",
            prefecture="東京都",
        )
    )
    db.commit()
    resp = client.get("/api/v1/prospects.csv", params={"keyword": "cmd|"}, headers=headers)
    rows = _rows(resp.content)
    assert [row[0] for row in rows[1:]] == ["'@cmd|' /C calc'!A0"]
