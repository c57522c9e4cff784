"""The member's NG list page (送信しないドメイン): add and delete, search, CSV upload (UTF-8 with a
header, or Excel's Shift_JIS without one; bad rows reported by line) and a CSV download that a
second upload reads back; another member's entries never show."""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy.orm import Session

from tests.support.web import csrf_of, login


def _rows(html: str) -> list[str]:
    body = re.search(r'<table id="ng-domains">.*?</table>', html, re.S)
    assert body
    return re.findall(r"<tr><td>([^<]+)</td>", body.group(0))


def test_member_keeps_an_ng_list_with_csv_upload_and_download(
    client, db: Session, make_user
) -> None:  # type: ignore[no-untyped-def]
    me, _ = make_user("member", company="NG甲株式会社")
    other, other_headers = make_user("member", company="NG乙株式会社")
    assert (
        client.post(
            "/api/v1/ng-domains", json={"domain": "other-only.example.jp"}, headers=other_headers
        ).status_code
        == 201
    )
    token = login(client, me)
    page = client.get("/ng-domains")
    assert page.status_code == 200 and "NGリスト" in page.text
    assert _rows(page.text) == []
    # One by one, with the error beside the field.
    bad = client.post("/ng-domains", data={"csrf_token": token, "domain": "not a domain"})
    assert bad.status_code == 400 and 'id="err-domain"' in bad.text
    done = client.post(
        "/ng-domains", data={"csrf_token": token, "domain": "https://www.Single.example.jp/x"}
    )
    assert done.url.path == "/ng-domains" and _rows(done.text) == ["single.example.jp"]
    # A UTF-8 CSV with a header (BOM and all), one bad row, one already there.
    upload = "\ufeffnote,domain\r\n取引先,a.example.jp\r\n,https://b.example.jp/contact\r\n,???\r\n,single.example.jp\r\n"
    resp = client.post(
        "/ng-domains/import",
        data={"csrf_token": token},
        files={"file": ("ng.csv", upload.encode("utf-8"), "text/csv")},
    )
    assert resp.status_code == 200, resp.text
    report = re.search(r'<div class="notice" id="ng-report".*?</div>', resp.text, re.S)
    assert report and "新規 2件" in report.group(0) and "登録済み 1件" in report.group(0)
    assert "4行目：???" in resp.text
    # Excel's Shift_JIS, no header.
    sjis = "c.example.jp\r\nd.example.jp\r\n".encode("cp932")
    client.post(
        "/ng-domains/import",
        data={"csrf_token": token},
        files={"file": ("ng.csv", sjis, "text/csv")},
    )
    listed = client.get("/ng-domains").text
    assert sorted(_rows(listed)) == [
        "a.example.jp", "b.example.jp", "c.example.jp", "d.example.jp", "single.example.jp",
    ]  # fmt: skip
    assert "other-only.example.jp" not in listed
    assert _rows(client.get("/ng-domains?q=b.ex").text) == ["b.example.jp"]
    # The download: BOM, the header, every entry of mine and none of the other member's.
    csv_resp = client.get("/ng-domains.csv")
    assert csv_resp.status_code == 200 and csv_resp.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(csv_resp.content.decode("utf-8-sig"))))
    assert {r["domain"] for r in rows} == {
        "a.example.jp", "b.example.jp", "c.example.jp", "d.example.jp", "single.example.jp",
    }  # fmt: skip
    assert next(r["note"] for r in rows if r["domain"] == "a.example.jp") == "取引先"
    # The API sees the same list the page keeps.
    api = client.get("/api/v1/ng-domains").json()
    assert api["total"] == 5
    # Delete from the page.
    entry = next(i for i in api["items"] if i["domain"] == "d.example.jp")
    resp = client.post(f"/ng-domains/{entry['id']}/delete", data={"csrf_token": csrf_of(listed)})
    assert resp.status_code == 200 and "d.example.jp" not in _rows(resp.text)
    # The download uploads back as it is (nothing new, nothing rejected).
    again = client.post(
        "/ng-domains/import",
        data={"csrf_token": token},
        files={"file": ("ng.csv", csv_resp.content, "text/csv")},
    )
    assert "新規 1件" in again.text and "登録済み 4件" in again.text  # d.example.jp came back
    assert 'id="ng-rejected"' not in again.text
