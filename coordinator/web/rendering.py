"""Jinja2 rendering of the web UI: one environment, the display filters of the manual.

Amounts read ``44,000円``, dates ``2022/01/13``, statuses in Japanese (shared.labels)."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from coordinator.accounts.service import Principal
from coordinator.responses import rates
from shared import labels, send_window
from shared.config import get_settings

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
# Members and operators work on Japan time; the database keeps UTC.
JST = ZoneInfo("Asia/Tokyo")

FLASH_MESSAGES = {
    "order_created": "申込みを受け付けました",
    "paid": "決済が完了しました",
    "script_saved": "スクリプトを保存しました",
    "reserved": "予約代行依頼を受け付けました（申請中）",
    "paused": "一時停止しました",
    "list_removed": "一時停止し、現在のリストを送信担当者から削除しました",
    "resumed": "再開しました",
    "cancelled": "キャンセルしました",
    "addition_requested": "予約数の追加を申請しました（承認待ち）",
    "transferred": "リストを移行しました",
    "ng_added": "NGリストに追加しました",
    "ng_removed": "NGリストから削除しました",
    "window_changed": "送信時間帯を変更しました",
    "script_changed": "スクリプトを変更しました（未送信分は新しいスクリプトで送信します）",
    "approved": "承認しました",
    "rejected": "却下しました",
    "senders_changed": "送信担当者数を変更しました",
    "payment_confirmed": "入金を確認しました",
    "refunded": "返金しました（未使用のチケットを取り消しました）",
    "suppressed": "配信停止リストに追加しました",
    "unsuppressed": "配信停止リストから削除しました",
    "resolved": "判定を記録しました",
    "logged_out": "ログアウトしました",
    "host_drain": "ワーカーホストを停止準備にしました（送信中の処理が終わると新しい送信を受けません）",
    "host_stop": "ワーカーホストを停止しました（送信中の処理が終わると終了します）",
    "host_resume": "ワーカーホストを再開しました",
    "stopped_all": "全停止しました（承認済みの予約をすべて一時停止しました）",
}


def _local(value: datetime) -> datetime:
    return value.astimezone(JST) if value.tzinfo else value


def ymd(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    return value.strftime("%Y/%m/%d")


def ymd_ja(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _local(value)
    return value.strftime("%Y年%m月%d日")


def ymdhms(value: datetime | None) -> str:
    if value is None:
        return ""
    return _local(value).strftime("%Y/%m/%d %H:%M:%S")


def hm(value: datetime | None) -> str:
    if value is None:
        return ""
    return _local(value).strftime("%m/%d %H:%M")


def yen(value: int | None) -> str:
    return "" if value is None else f"{int(value):,}円"


def number(value: int | None) -> str:
    return "" if value is None else f"{int(value):,}"


def kensu(value: int | None) -> str:
    return "" if value is None else f"{int(value):,}件"


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
_filters: dict[str, Any] = {
    "ymd": ymd,
    "ymd_ja": ymd_ja,
    "ymdhms": ymdhms,
    "hm": hm,
    "yen": yen,
    "number": number,
    "kensu": kensu,
    "percent": rates.percent,  # 反響 rates: 「12.5%」, or 「-」 without a denominator
}
# One filter per label table: {{ r.status|reservation_status_ja }}, {{ kind|notification_kind_ja }}
_filters.update(
    {f"{name}_ja": partial(labels.label, table) for name, table in labels.TABLES.items()}
)
templates.env.filters.update(_filters)
# The page script's copy of the catalogue, rendered once into every page (base.html).
templates.env.globals["label_catalogue"] = labels.catalogue()


def demo_mode() -> bool:
    """MIKOMI_DEMO: every page says デモ (read per render, so a settings change shows at once)."""
    return get_settings().demo


templates.env.globals["demo_mode"] = demo_mode
templates.env.globals["day_labels"] = send_window.DAY_LABELS  # 送信時間帯's 月…日


def payment_mode() -> str:
    """How card orders are paid (docs/rules.md#payments): "stripe", "test" (every page then
    says テスト決済) or "none" (card orders are refused)."""
    return get_settings().payment_mode


templates.env.globals["payment_mode"] = payment_mode


def render(
    request: Request,
    name: str,
    user: Principal | None,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    ctx: dict[str, Any] = {
        "user": user,
        "csrf_token": user.csrf_token if user else "",
        "errors": {},
        "values": {},
        # Only fixed messages, chosen by a code: a query string never puts text on the page.
        "flash": FLASH_MESSAGES.get(request.query_params.get("done", ""), ""),
    }
    ctx.update(context or {})
    ctx["request"] = request
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)
