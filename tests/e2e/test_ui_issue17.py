"""The pages of a member's changes and of the operator's lists in real Chromium, at 1280 px and
390 px: 予約履歴 offers the buttons each status allows (and they work), the script and the
send window change through a pause, the NG list takes a CSV and gives one back, the import's
progress bar follows the upload, the operator's 予約一覧 asks for its rows in one request
(no stream per row), お知らせ shows the unread count, and no page logs a console error
(/favicon.ico included)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from tests.support.ui import (
    DESKTOP,
    MEMBER_EMAIL,
    OPERATOR_EMAIL,
    PHONE,
    Stack,
    assert_no_page_overflow,
    login_in_browser,
    record_sends,
)
from tests.support.web import MEMBER_PAGES, OPERATOR_PAGES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


class Console:
    """Every console error and page error of a page, and every answer of 400 or more."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def watch(self, page: Page) -> Page:
        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.errors.append(f"{page.url}: {msg.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        return page


def _seed(up: Stack) -> dict[str, int]:
    """Tickets, two scripts and three reservations (pending, approved, approved) of the
    member, made through the services as the pages would."""
    from sqlalchemy import select

    from coordinator.reservations import service
    from shared.models import User
    from tests.builders import (
        give_tickets,
        list_url,
        make_prospects,
        make_script,
        principal_of,
    )

    ids: dict[str, int] = {}
    with up.fleet.session() as db:
        member = db.scalars(select(User).where(User.email == MEMBER_EMAIL)).one()
        operator = db.scalars(select(User).where(User.email == OPERATOR_EMAIL)).one()
        give_tickets(db, member.member_id, 3_000)
        first = make_script(db, member.member_id)
        second = make_script(db, member.member_id)
        second.name = "秋のご案内"
        ids["second_script"] = second.id
        for name in ("pending", "approved", "other"):
            r = service.create(
                db,
                principal_of(member),
                count=300,
                senders=1,
                list_url=list_url(make_prospects(db, 600)),
                script_id=first.id,
            )
            ids[name] = r.id
            if name != "pending":
                service.approve(db, principal_of(operator), r.id)
    return ids


def _row(page: Page, rid: int):  # type: ignore[no-untyped-def]
    return page.locator(f"#reservation-{rid}")


def test_member_and_operator_pages_of_issue_17(stack: Stack, browser: Browser) -> None:
    ids = _seed(stack)
    console = Console()

    ctx, page = login_in_browser(browser, stack.base, MEMBER_EMAIL)
    console.watch(page)
    page.goto("/reservations")
    pending, approved = _row(page, ids["pending"]), _row(page, ids["approved"])
    expect(pending.locator("button", has_text="一時停止")).to_have_count(0)
    expect(pending.locator("button", has_text="キャンセル")).to_have_count(1)
    expect(pending).to_contain_text("未割当")
    expect(approved).to_contain_text("送信担当 花子")
    expect(approved.locator("button", has_text="キャンセル")).to_have_count(1)

    # 一時停止 (keep the list) → the detail page changes the script and the send window.
    approved.locator("button", has_text="一時停止").click()
    page.locator("#pause-dialog button", has_text="いいえ").click()
    expect(_row(page, ids["approved"])).to_contain_text("一時停止")
    page.goto(f"/reservations/{ids['approved']}")
    page.select_option("#f-script", str(ids["second_script"]))
    page.click("#script-change button[type=submit]")
    expect(page.locator(".flash, [role=status]").first).to_contain_text("スクリプトを変更しました")
    expect(page.locator(".kv")).to_contain_text("秋のご案内")
    window = page.locator("#window-change")
    window.locator("input[name=window_mode][value=window]").check()
    for day in (6, 7):
        window.locator(f"input[name=window_day_{day}]").uncheck()
    window.locator("input[name=window_start]").fill("10:00")
    window.locator("input[name=window_end]").fill("17:00")
    window.locator("button[type=submit]").click()
    expect(page.locator("#send-window-text")).to_contain_text("月・火・水・木・金 10:00〜17:00")
    _phone(browser, page, f"/reservations/{ids['approved']}", console)

    # Back in 予約履歴: 再開, and キャンセル of an 承認済み reservation works from the page.
    page.goto("/reservations")
    _row(page, ids["approved"]).locator("button", has_text="再開").click()
    expect(_row(page, ids["approved"])).to_contain_text("承認済み")
    _row(page, ids["other"]).locator("button", has_text="キャンセル").click()
    page.locator("#cancel-dialog button", has_text="はい").click()
    expect(_row(page, ids["other"])).to_contain_text("キャンセル")
    expect(_row(page, ids["other"]).locator("button")).to_have_count(0)
    _phone(browser, page, "/reservations", console)

    # The detail page's sends-per-minute chart follows a send without a reload.
    page.goto(f"/reservations/{ids['approved']}")
    page.evaluate("window.__sameDocument = true")
    page.wait_for_timeout(1_500)  # the stream is open
    assert record_sends(stack.fleet, ids["approved"], 1) == 1
    expect(page.locator("#spm-chart title", has_text="1件")).to_have_count(1, timeout=80_000)
    assert page.evaluate("window.__sameDocument === true")

    # NGリスト: upload a CSV, search, download it back.
    csv_path = stack.tmp / "ng.csv"
    csv_path.write_text(
        "domain,note\nng-one.example.jp,取引先\nhttps://ng-two.example.jp/x,\n", encoding="utf-8"
    )
    page.click("nav >> text=NGリスト")
    page.set_input_files("#f-ng-file", str(csv_path))
    page.click("#ng-import button[type=submit]")
    expect(page.locator("#ng-report")).to_contain_text("新規 2件")
    expect(page.locator("#ng-domains")).to_contain_text("ng-two.example.jp")
    with page.expect_download() as download:
        page.click("#ng-download")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "ng-one.example.jp,取引先" in text and "ng-two.example.jp" in text
    _phone(browser, page, "/ng-domains", console)
    for path in MEMBER_PAGES:  # every member page, for console errors
        page.goto(path)
        page.wait_for_load_state("networkidle")
    # Headless Chromium asks for no icon by itself: the page names it, and it is there.
    assert page.locator('link[rel="icon"]').get_attribute("href") == "/favicon.ico"
    icon = page.request.get("/favicon.ico")
    assert icon.status == 200 and icon.headers["content-type"] == "image/x-icon"
    ctx.close()

    # The operator: the import's upload bar, 予約一覧 in one request per refresh, the badge.
    op_ctx, op = login_in_browser(browser, stack.base, OPERATOR_EMAIL)
    console.watch(op)
    op.goto("/operator/prospects/import")
    op.evaluate(
        """() => {
          const box = document.getElementById("upload-progress");
          new MutationObserver(() => {
            const seen = Number(sessionStorage.getItem("upload-max") || -1);
            const now = Number(box.dataset.percent || -1);
            if (now > seen) sessionStorage.setItem("upload-max", String(now));
            if (!box.hidden) sessionStorage.setItem("upload-shown", "1");
          }).observe(box, { attributes: true, subtree: true });
        }"""
    )
    op.set_input_files("#f-file", str(stack.prospect_csv()))
    op.click("#import-form button[type=submit]")
    expect(op).to_have_url(re.compile(r"/operator/prospects/import\?job=\d+"))
    assert op.evaluate("sessionStorage.getItem('upload-shown')") == "1"
    assert op.evaluate("sessionStorage.getItem('upload-max')") == "100"
    requests: list[str] = []
    op.on("request", lambda r: requests.append(r.url))
    op.goto("/operator/reservations")
    op.wait_for_timeout(4_000)
    assert not [u for u in requests if u.endswith("/events")], "a stream per row"
    live = [u for u in requests if "/api/v1/reservations/live?" in u]
    assert live and all(f"ids={ids['pending']}" in u for u in live)
    expect(op.locator("#unread-badge")).to_be_visible()
    assert int(op.locator("#unread-badge").inner_text()) >= 3  # three 予約申請
    _phone(browser, op, "/operator/reservations", console)
    for path in [*OPERATOR_PAGES, f"/operator/reservations/{ids['approved']}"]:
        op.goto(path)
        op.wait_for_load_state("networkidle")
    op_ctx.close()

    assert console.errors == []


def _phone(browser: Browser, page: Page, path: str, console: Console) -> None:
    context = browser.new_context(
        viewport=PHONE,
        storage_state=page.context.storage_state(),
        base_url=page.url.split("/", 3)[0] + "//" + page.url.split("/", 3)[2],
        is_mobile=True,
    )
    try:
        mobile = console.watch(context.new_page())
        mobile.goto(path)
        mobile.wait_for_load_state("networkidle")
        assert_no_page_overflow(mobile)
    finally:
        context.close()


assert DESKTOP["width"] == 1280 and PHONE["width"] == 390
