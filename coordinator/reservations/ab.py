"""A/B scripts (docs/rules.md#ab-scripts): a reservation's two scripts compared on what their
items got — sent ÷ attempted, and auto-replies, replies, refusals and clicks ÷ sent, with the
rates defined once in coordinator/responses/rates.py."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.orm import Session

from coordinator.responses import rates
from shared import labels
from shared.enums import ItemState, ResponseKind, ResponseRate
from shared.models import Response, Script, SendItem

# The comparison's columns: each count with its rate (labels from the one catalogue).
COLUMNS: tuple[tuple[str, str, str, str], ...] = tuple(
    (count, count_label, rate.value, labels.label(labels.RESPONSE_RATE, rate.value))
    for count, count_label, rate in (
        ("sent", "送信済", ResponseRate.DELIVERY_RATE),
        ("auto_replies", "自動返信", ResponseRate.AUTO_REPLY_RATE),
        ("replies", "返信", ResponseRate.REPLY_RATE),
        ("refusals", "お断り", ResponseRate.REFUSAL_RATE),
        ("clicks", "クリック", ResponseRate.CLICK_RATE),
    )
)


@dataclass(frozen=True)
class ScriptResult:
    arm: str  # "A" | "B"
    script_id: int
    script_name: str
    counts: rates.Counts
    rates: rates.Rates

    @property
    def shown(self) -> dict[str, str]:
        """Each rate as the page shows it (「12.5%」, 「-」)."""
        return {name: rates.percent(value) for name, value in self.rates.as_dict().items()}


class _AB(Protocol):
    """A reservation (the row or its API view): its id and its two scripts."""

    id: int
    script_id: int
    script_b_id: int | None


def _arm(reservation: _AB) -> ColumnElement[str]:
    """ "B" for the items sent with the second script, "A" for the others."""
    return case((SendItem.script_id == reservation.script_b_id, "B"), else_="A")


def compare(db: Session, reservation: _AB) -> list[ScriptResult]:
    """Script A's and script B's results side by side; empty for a one-script reservation."""
    if reservation.script_b_id is None:
        return []
    arm = _arm(reservation)
    states: dict[str, dict[str, int]] = {"A": {}, "B": {}}
    for side, state, n in db.execute(
        select(arm, SendItem.state, func.count())
        .where(SendItem.reservation_id == reservation.id)
        .group_by(arm, SendItem.state)
    ):
        states[side][state] = int(n)
    clicked: dict[str, int] = dict(
        db.execute(
            select(arm, func.count())
            .where(SendItem.reservation_id == reservation.id, SendItem.first_click_at.is_not(None))
            .group_by(arm)
        ).all()
    )
    answered: dict[tuple[str, str], int] = {}
    category = case(
        (Response.refusal.is_(True), "refusal"),
        (Response.kind == ResponseKind.AUTO_REPLY.value, "auto_reply"),
        (Response.kind == ResponseKind.REPLY.value, "reply"),
        else_="other",
    )
    for side, what, n in db.execute(
        select(arm, category, func.count(distinct(Response.item_id)))
        .join(SendItem, SendItem.id == Response.item_id)
        .where(Response.reservation_id == reservation.id)
        .group_by(arm, category)
    ):
        answered[(side, what)] = int(n)
    names = {
        s.id: s.name
        for s in db.scalars(
            select(Script).where(Script.id.in_([reservation.script_id, reservation.script_b_id]))
        )
    }
    results = []
    for side, script_id in (("A", reservation.script_id), ("B", reservation.script_b_id)):
        got = states[side]
        sent = got.get(ItemState.SENT.value, 0)
        counts = rates.Counts(
            attempted=rates.attempted(
                sent, got.get(ItemState.FAILED.value, 0), got.get(ItemState.IN_DOUBT.value, 0)
            ),
            sent=sent,
            auto_replies=answered.get((side, "auto_reply"), 0),
            replies=answered.get((side, "reply"), 0),
            refusals=answered.get((side, "refusal"), 0),
            clicks=int(clicked.get(side, 0)),
        )
        results.append(
            ScriptResult(side, script_id, names.get(script_id, ""), counts, rates.rates(counts))
        )
    return results
