"""The 予約履歴 detail page's 反響 in real Chromium: mail that arrives through a real
``mikomi mailin`` while the page is open shows up without a reload (counts, rates, the reply's
text), and a hostile HTML mail runs nothing and shows no markup of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import SENT, Mailin, make_sent_items
from tests.support.live import Coordinator
from tests.support.ui import login_in_browser

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

HOSTILE = (
    "<html><body><script>alert('xss')</script>"
    "<p>ご提案ありがとうございます。<b>ぜひ</b>お話を伺いたいです。</p>"
    "<img src=x onerror=\"alert('img')\"><a href=\"javascript:alert('a')\">資料</a>"
    '<iframe src="https://evil.example/"></iframe></body></html>'
)


@pytest.fixture
def coordinator(mail_db: str) -> Iterator[Coordinator]:
    with Coordinator() as running:
        yield running


@pytest.mark.parametrize("mail_db", ["sqlite"], indirect=True)
def test_replies_appear_live_and_html_mail_runs_nothing(
    browser: Browser, coordinator: Coordinator, mailin: Mailin
) -> None:
    sent = make_sent_items([SENT, SENT])
    human, hostile = sent.items
    context, page = login_in_browser(browser, coordinator.base, sent.member_email)
    problems: list[str] = []
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: problems.append(r.url) if "evil.example" in r.url else None)
    try:
        page.goto(f"/reservations/{sent.reservation_id}")
        section = page.locator("#responses")
        expect(section.locator('[data-response="replies"]')).to_have_text("0")
        expect(section).to_contain_text("まだ反響はありません")
        page.evaluate("window.__sameDocument = true")
        page.wait_for_timeout(1_500)  # the event stream is open

        mailin.send(mails.iso2022jp(human, "Re: ご提案の件", "来週お打ち合わせ可能です。"), [human])
        mailin.send(
            mails.html_only(hostile, "Re: <img src=x onerror=alert(1)>", HOSTILE), [hostile]
        )

        expect(section.locator('[data-response="replies"]')).to_have_text("2", timeout=60_000)
        expect(section.locator('[data-rate="reply_rate"]')).to_have_text("100.0%")
        rows = page.locator("#response-list tbody tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#response-list")).to_contain_text("来週お打ち合わせ可能です。")
        expect(page.locator("#response-list")).to_contain_text(
            "ご提案ありがとうございます。ぜひお話を伺いたいです。"
        )
        # the hostile subject is shown as the text it is
        expect(page.locator("#response-list")).to_contain_text("Re: <img src=x onerror=alert(1)>")
        assert page.evaluate("window.__sameDocument") is True  # no reload happened
        listing = page.locator("#response-list")
        for tag in ("script", "img", "iframe", "a"):
            assert listing.locator(tag).count() == 0, tag
        assert listing.locator("pre.mail-text *").count() == 0  # a mail's text has no markup
        page.wait_for_timeout(500)
        assert problems == []
    finally:
        context.close()
