"""The manual's flow through the web UI in real Chromium, as a member and an operator.

A real coordinator (uvicorn, subprocess) on a fresh SQLite database, real Redis, the fixture
server's generated prospect sites, a real RQ worker process and the dispatcher: the member
watches 送信済数 rise without reloading. The rest of the sends (up to completion) are recorded
through the fleet's own ``shared.items`` functions (claim → start → submitting → outcome), so
that the walk stays within minutes on a small machine. Every screen is kept under
test-artifacts/ui/ at 1280×800, the main ones also at 390 px wide.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from shared.config import PROJECT_ROOT
from tests.support.fleet import Fleet
from tests.support.processes import wait_until
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

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "ui"


class Shots:
    """Screenshots of every screen; the main ones also on a phone-sized screen."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.taken: list[str] = []

    def __call__(self, page: Page, name: str, *, phone: bool = False) -> None:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.taken.append(name)
        if phone:
            context = self.browser.new_context(
                viewport=PHONE,
                storage_state=page.context.storage_state(),
                is_mobile=True,
                device_scale_factor=1,
            )
            try:
                mobile = context.new_page()
                mobile.goto(page.url)
                assert_no_page_overflow(mobile)
                mobile.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
                self.taken.append(f"{name}-phone")
            finally:
                context.close()


def _field_error(page: Page, name: str) -> str:
    locator = page.locator(f"#err-{name}")
    expect(locator).to_be_visible()
    return locator.inner_text()


def _item_with_screenshots(fleet: Fleet, reservation_id: int) -> int | None:
    from sqlalchemy import select

    from coordinator.reservations.results import evidence_dir
    from shared.models import SendItem

    with fleet.session() as db:
        ids = db.scalars(
            select(SendItem.id).where(
                SendItem.reservation_id == reservation_id, SendItem.worker_id != "ui-test"
            )
        ).all()
    for item_id in ids:
        folder = evidence_dir(reservation_id, item_id)
        if folder.is_dir() and any(p.suffix in (".jpg", ".png") for p in folder.iterdir()):
            return item_id
    return None


def _reservation(fleet: Fleet, reservation_id: int):  # type: ignore[no-untyped-def]
    from shared.models import Reservation

    with fleet.session() as db:
        row = db.get(Reservation, reservation_id)
        assert row is not None
        db.expunge(row)
        return row


def test_member_and_operator_walk_the_manual(stack: Stack, browser: Browser) -> None:
    shot = Shots(browser)
    base = stack.base
    fleet = stack.fleet

    # --- login screen and the operator's prospect import (progress bar) ---------------------
    context = browser.new_context(viewport=DESKTOP, base_url=base)
    login_page = context.new_page()
    login_page.goto("/login")
    shot(login_page, "00-login", phone=True)
    context.close()

    op_context, op = login_in_browser(browser, base, OPERATOR_EMAIL)
    expect(op.locator("h1")).to_have_text("承認待ち")
    op.goto("/operator/prospects/import")
    op.set_input_files("#f-file", str(stack.prospect_csv()))
    op.click("#import-form button[type=submit]")
    row = op.locator("tr[data-import]").first
    expect(row.locator("[data-field=status]")).to_have_text("完了", timeout=120_000)
    expect(row.locator("[data-field=rows_imported]")).not_to_have_text("0")
    shot(op, "01-operator-import", phone=True)

    # --- 1. tickets: order 2,000 → pay by test card → 作業中 with 残申込数 2,000 ---------------------
    ctx, page = login_in_browser(browser, base, MEMBER_EMAIL)
    expect(page).to_have_url(re.compile(r"/reservations$"))
    page.click("nav >> text=メール送信申込一覧")
    shot(page, "02-orders-empty")
    page.click("text=新規登録")
    page.fill("#f-company_name", "TEST株式会社")
    page.fill("#f-quantity", "1500")
    page.fill("#f-contact_name", "テスト 太郎")
    page.click("button:has-text('申込み')")
    assert "1,000件単位" in _field_error(page, "quantity")
    expect(page.locator("#f-company_name")).to_have_value("TEST株式会社")
    shot(page, "03-order-new-error")
    page.fill("#f-quantity", "2000")
    page.click("button:has-text('申込み')")
    expect(page.locator("h1")).to_have_text("決済内容の確認")
    expect(page.locator("#confirm-quantity")).to_have_text("2,000件")
    expect(page.locator("#confirm-amount")).to_have_text("44,000円")
    page.fill("#f-card_number", "4242 4242 4242 4242")
    shot(page, "04-order-confirm", phone=True)
    page.click("button:has-text('この内容で決済する')")
    expect(page).to_have_url(re.compile(r"/orders"))
    expect(page.locator("#orders tbody tr").first).to_contain_text("作業中")
    expect(page.locator("#orders tbody tr").first).to_contain_text("44,000円")
    expect(page.locator("#remaining")).to_have_text("2,000件")
    expect(page.locator("#total")).to_have_text("2,000件")
    shot(page, "05-orders", phone=True)

    # --- 2. a script ----------------------------------------------------------------------------
    page.click("nav >> text=スクリプト")
    page.click("text=新規作成")
    values = {
        "#f-name": "顧客獲得スクリプト",
        "#f-sender\\.company": "TEST株式会社",
        "#f-sender\\.last_name": "テスト",
        "#f-sender\\.first_name": "太郎",
        "#f-sender\\.email": "taro@test.example",
        "#f-sender\\.phone": "03-1234-5678",
        "#f-subject": "業務効率化のご提案",
    }
    for selector, value in values.items():
        page.fill(selector, value)
    page.fill("#f-body", "{{company}}\nご担当者様\n\n{{unknown}}")
    page.click("button:has-text('保存')")
    assert page.locator(".field-error, .error-box").count() >= 1  # unknown placeholder refused
    expect(page.locator("#f-name")).to_have_value("顧客獲得スクリプト")
    shot(page, "06-script-error")
    page.fill(
        "#f-body",
        "{{company}}\nご担当者様\n\n{{sender_company}}の{{sender_name}}です。\n停止: {{optout_url}}",
    )
    page.click("button:has-text('保存')")
    expect(page.locator("#scripts tbody tr")).to_have_count(1)
    script_id = page.locator("#scripts tbody tr td").first.inner_text().strip()
    shot(page, "07-scripts", phone=True)
    page.click("text=プレビュー")
    expect(page.locator("#preview-body")).to_contain_text("ご担当者様")
    shot(page, "08-script-preview")

    # --- 3. reservation form ← 見込客リストから検索 → URL有り → リストURL ----------------------------
    page.click("nav >> text=予約代行フォーム")
    page.fill("#f-count", "300")
    page.click("#search-prospects")
    expect(page.locator("h1")).to_have_text("見込客リスト一覧")
    expect(page.locator("input[name=has_url]")).to_be_checked()
    page.locator("input[name=has_url]").uncheck()
    page.click("button:has-text('検索')")
    page.locator("input[name=has_url]").check()
    page.click("button:has-text('検索')")
    total = int(page.locator("#result-count").inner_text().replace(",", ""))
    assert total >= 1000
    expect(page.locator("#list-url")).to_have_value(re.compile(r"/prospects\?has_url=1$"))
    shot(page, "09-prospects", phone=True)
    page.click("#list-url-button")
    expect(page.locator("h1")).to_have_text("予約代行フォーム")
    list_url = page.locator("#f-list_url").input_value()
    assert list_url.endswith("/prospects?has_url=1")
    expect(page.locator("#f-count")).to_have_value("300")  # kept across the trip

    def reserve(count: str, senders: str) -> None:
        page.fill("#f-count", count)
        page.fill("#f-senders", senders)
        page.select_option("#f-script_id", script_id)
        page.click("button:has-text('予約代行依頼をする')")

    reserve("250", "1")
    assert "300" in _field_error(page, "count")
    expect(page.locator("#f-list_url")).to_have_value(list_url)
    shot(page, "10-reservation-form-250", phone=True)
    reserve("350", "1")
    assert "100" in _field_error(page, "count")
    shot(page, "11-reservation-form-350")
    reserve("2000", "5")
    assert "4" in _field_error(page, "senders")
    expect(page.locator("#f-count")).to_have_value("2000")
    shot(page, "12-reservation-form-senders")
    reserve("300", "1")
    expect(page).to_have_url(re.compile(r"/reservations"))
    row = page.locator("#reservations tbody tr").first
    expect(row).to_contain_text("申請中")
    rid = int(row.get_attribute("data-live") or "0")
    shot(page, "13-history-pending", phone=True)

    # --- 4. the operator approves; the member sees 送信済数 rise without reloading ----------------
    fleet.start_workers(1)
    fleet.wait_for_workers(1, timeout=120)
    fleet.start_dispatcher()
    op.goto("/operator")
    expect(op.locator(f"#pending-{rid}")).to_be_visible()
    shot(op, "14-operator-approvals", phone=True)
    op.click(f"#pending-{rid} button:has-text('承認')")
    expect(op.locator(".flash")).to_have_text("承認しました")
    page.evaluate("window.__sameDocument = true")
    sent_cell = page.locator(f"#reservation-{rid} [data-counter=sent]")
    expect(page.locator(f"#reservation-{rid} [data-counter=status_ja]")).to_have_text(
        "承認済み", timeout=30_000
    )
    live_by_fleet = True
    try:
        expect(sent_cell).not_to_have_text("0件", timeout=150_000)
    except AssertionError:
        live_by_fleet = False  # the real fleet sent nothing in time: record one the fleet's way
        record_sends(fleet, rid, 1)
        expect(sent_cell).not_to_have_text("0件", timeout=30_000)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    shot(page, "15-history-live", phone=True)
    op.goto(f"/operator/reservations/{rid}")
    op.fill("#f-senders", "2")
    op.click("button:has-text('変更')")
    expect(op.locator(".flash")).to_have_text("送信担当者数を変更しました")
    shot(op, "16-operator-reservation", phone=True)
    op.goto("/operator/fleet")
    expect(op.locator("#spm-chart")).to_be_visible()
    shot(op, "17-operator-fleet", phone=True)

    # --- 5. pause → remove the list → change the list → resume ----------------------------------
    # The page was drawn while 申請中, which offers no 一時停止: the approved row offers it.
    expect(page.locator(f"#reservation-{rid} button:has-text('一時停止')")).to_have_count(0)
    page.reload()
    page.click(f"#reservation-{rid} button:has-text('一時停止')")
    dialog = page.locator("#pause-dialog")
    expect(dialog).to_contain_text("現在のリストを送信担当者から削除しますか？")
    shot(page, "18-pause-dialog", phone=False)
    dialog.locator("button:has-text('はい')").click()
    expect(page.locator(".flash")).to_contain_text("一時停止")
    row = page.locator(f"#reservation-{rid}")
    expect(row.locator("[data-counter=status_ja]")).to_have_text("一時停止")
    # The queued list is gone; an item that was already handed to a worker comes back to the
    # queue when the worker sees the pause (at most one per sender).
    queued_after_pause = int(row.locator("[data-counter=queued]").inner_text().replace(",", ""))
    assert queued_after_pause <= 2
    # Pause is cooperative: what was in flight finishes; then the fleet may go.
    wait_until(lambda: _reservation(fleet, rid).in_flight == 0, 120, "in-flight items to finish")
    fleet.stop_dispatcher()
    fleet.stop_workers()
    shot(page, "19-history-paused")

    page.click("nav >> text=見込客リスト一覧")
    page.select_option("#f-industry", "製造業")
    page.locator("input[name=has_url]").check()
    page.click("button:has-text('検索')")
    page.click("button:has-text('見込客リスト変更')")
    change = page.locator("#change-dialog")
    change.locator("input[name=count]").fill("450")
    change.locator("select[name=reservation_id]").select_option(str(rid))
    change.locator("select[name=script_id]").select_option(script_id)
    shot(page, "20-change-list-dialog", phone=False)
    change.locator("button:has-text('移行')").click()
    expect(page.locator(".flash")).to_have_text("リストを移行しました")
    row = page.locator(f"#reservation-{rid}")
    expect(row.locator("[data-counter=queued]")).not_to_have_text("0")
    row.locator("button:has-text('再開')").click()
    expect(page.locator(".flash")).to_have_text("再開しました")
    expect(row.locator("[data-counter=status_ja]")).to_have_text("承認済み")
    shot(page, "21-history-resumed")

    # --- 6. add 100 → the operator approves -------------------------------------------------------
    row.locator("button:has-text('追加する')").click()
    page.locator("#addition-dialog input[name=count]").fill("100")
    page.locator("#addition-dialog button:has-text('追加する')").click()
    expect(page.locator(".flash")).to_contain_text("承認待ち")
    expect(page.locator(f"#reservation-{rid}")).to_contain_text("追加承認待ち")
    op.goto("/operator")
    addition_row = op.locator("#pending-additions tbody tr").first
    expect(addition_row).to_contain_text("100件")
    addition_row.locator("button:has-text('承認')").click()
    expect(op.locator(".flash")).to_have_text("承認しました")
    expect(page.locator(f"#reservation-{rid} [data-counter=count]")).to_have_text(
        "400件", timeout=30_000
    )

    # --- 7. chat both ways -------------------------------------------------------------------------
    page.goto(f"/reservations/{rid}/chat")
    page.fill("#f-body", "リストを変更しました。よろしくお願いします。")
    page.click("#chat-form button:has-text('送信')")
    expect(page.locator(".msg.mine")).to_contain_text("リストを変更しました")
    op.click("nav >> text=チャット")
    expect(op.locator("#chat-threads")).to_contain_text("リストを変更しました")
    shot(op, "22a-operator-chats")
    op.click("#chat-threads >> text=開く")
    expect(op.locator(".msg")).to_contain_text("リストを変更しました")
    page.evaluate("window.__sameDocument = true")
    op.fill("#f-body", "承知しました。送信を再開します。")
    op.click("#chat-form button:has-text('送信')")
    shot(op, "22-operator-chat")
    # the member's open chat shows the reply without reloading
    expect(page.locator(".msg:not(.mine)")).to_contain_text("承知しました", timeout=15_000)
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "23-member-chat", phone=True)

    # --- 8. completion (through the fleet's functions), the detail page, CSV ----------------------
    # An operator settles what the fleet could not confirm (in-doubt review with evidence).
    op.goto("/operator/in-doubt")
    shot(op, "24-operator-in-doubt", phone=True)
    while op.locator("#in-doubt button:has-text('未送信')").count():
        op.locator("#in-doubt button:has-text('未送信')").first.click()
        expect(op.locator(".flash")).to_have_text("判定を記録しました")
    page.goto("/reservations")
    before = _reservation(fleet, rid)
    remaining = before.count - before.sent
    recorded = record_sends(fleet, rid, remaining + 10)
    assert recorded == remaining
    row = page.locator(f"#reservation-{rid}")
    expect(row.locator("[data-counter=sent]")).to_have_text("400件", timeout=30_000)
    expect(row.locator("[data-counter=status_ja]")).to_have_text("完了", timeout=30_000)
    shot(page, "25-history-completed", phone=True)
    page.goto(f"/reservations/{rid}")
    expect(page.locator("#outcomes")).to_contain_text("送信済み")
    shot(page, "26-reservation-detail", phone=True)
    evidence_item = _item_with_screenshots(fleet, rid)
    if evidence_item is not None:  # a send of the real fleet: its screenshots are on the page
        page.goto(f"/items/{evidence_item}")
        expect(page.locator(".evidence img").first).to_be_visible()
        shot(page, "26b-item-evidence", phone=True)
        page.goto(f"/reservations/{rid}")
    with page.expect_download() as download_info:
        page.click("#results-csv")
    download = download_info.value
    content = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(content.splitlines()))
    sent_rows = [r for r in rows[1:] if r[3] == "sent"]
    assert len(sent_rows) == 400
    page.goto("/orders")
    expect(page.locator("#remaining")).to_have_text("1,600件")
    shot(page, "27-orders-after")
    page.goto("/notifications")
    shot(page, "28-notifications", phone=True)

    for path, name in (
        ("/operator/reservations", "29-operator-reservations"),
        ("/operator/suppression", "30-operator-suppression"),
        ("/operator/orders", "31-operator-orders"),
    ):
        op.goto(path)
        shot(op, name, phone=True)
    (ARTIFACTS / "README.txt").write_text(
        "Screens of tests/e2e/test_ui_flow.py (1280x800; *-phone.png at 390 px).\n"
        f"送信済数 rose live from the real fleet: {live_by_fleet}\n" + "\n".join(shot.taken) + "\n",
        encoding="utf-8",
    )
    ctx.close()
    op_context.close()
