"""The fleet seen by operators and members: live counters, workers, in-doubt resolution."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.fleet import repository
from coordinator.fleet.errors import InvalidResolution, ItemNotInDoubt
from coordinator.fleet.schemas import (
    FleetView,
    InDoubtList,
    ItemOut,
    ReservationRate,
    ResolveRequest,
    ServiceBeat,
    WorkerOut,
)
from shared import clock, events, fleet_control, items
from shared.enums import ItemState
from shared.metrics import ALIVE_WITHIN, SERVICE_STATES
from shared.models import FleetWorker, Reservation, SendItem

LIVE_RATE_WINDOW = timedelta(minutes=1)


def live_snapshot(db: Session, reservation_id: int) -> dict[str, Any] | None:
    """What the SSE stream sends: the counters, outcomes by reason and sends per minute."""
    reservation = db.get(Reservation, reservation_id, populate_existing=True)
    if reservation is None:
        return None
    now = clock.now()
    by_reason = repository.reasons_by_status(db, reservation_id=reservation_id)
    recent = repository.sent_since(db, now - LIVE_RATE_WINDOW, reservation_id)
    snapshot = events.counters(reservation)
    snapshot.update(
        failed_by_reason=by_reason.get("failed", {}),
        skipped_by_reason=by_reason.get("skipped", {}),
        sends_per_minute=round(recent * 60 / LIVE_RATE_WINDOW.total_seconds(), 1),
    )
    return snapshot


def outcomes(db: Session, reservation_id: int | None = None) -> list[tuple[str, str, int]]:
    """(state, reason, count) of the ended items, the most frequent first (the pages' table)."""
    by_status = repository.reasons_by_status(db, reservation_id=reservation_id)
    rows = [(s, r, n) for s, reasons in by_status.items() for r, n in reasons.items()]
    return sorted(rows, key=lambda row: -row[2])


def sends_per_minute(
    db: Session, reservation_id: int | None = None, minutes: int = 30
) -> list[int]:
    """Sent items per minute over the last ``minutes`` minutes, oldest first (the pages' chart)."""
    start = clock.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes - 1)
    buckets = [0] * minutes
    for finished in repository.sent_times_since(db, start, reservation_id):
        index = int((finished - start).total_seconds() // 60)
        if 0 <= index < minutes:
            buckets[index] += 1
    return buckets


def workers(db: Session) -> list[FleetWorker]:
    """Every registered worker, alive or not, the most recently heard from first."""
    return sorted(repository.workers(db), key=lambda w: w.heartbeat_at, reverse=True)


SERVICE_STALE_AFTER = timedelta(seconds=30)  # six missed beats (coordinator/fleet/beats.py)


def services(db: Session) -> list[ServiceBeat]:
    """Each service's newest heartbeat; stale when older than SERVICE_STALE_AFTER or absent."""
    newest: dict[str, FleetWorker] = {}
    for row in repository.service_beats(db):
        newest.setdefault(row.state, row)
    stale_before = clock.now() - SERVICE_STALE_AFTER
    return [
        ServiceBeat(
            service=name,
            hostname=row.hostname if row else None,
            heartbeat_at=row.heartbeat_at if row else None,
            stale=row is None or row.heartbeat_at < stale_before,
        )
        for name in SERVICE_STATES
        for row in [newest.get(name)]
    ]


def fleet_view(db: Session, minutes: int = 5) -> FleetView:
    now = clock.now()
    since = now - timedelta(minutes=minutes)
    rows = repository.workers(db)
    current = repository.items_by_id(db, [w.current_item_id for w in rows if w.current_item_id])
    alive = [w for w in rows if w.heartbeat_at >= now - ALIVE_WITHIN]
    workers = []
    for w in alive:
        item = current.get(w.current_item_id) if w.current_item_id else None
        workers.append(
            WorkerOut(
                id=w.id,
                hostname=w.hostname,
                pid=w.pid,
                state=w.state,
                current_item_id=w.current_item_id,
                current_reservation_id=item.reservation_id if item else None,
                current_domain=item.domain if item else None,
                sends=w.sends,
                slots=w.slots,
                slots_in_use=w.slots_in_use,
                started_at=w.started_at,
                heartbeat_at=w.heartbeat_at,
            )
        )
    per_reservation = repository.sent_since_by_reservation(db, since)
    reservations = [
        ReservationRate(
            reservation_id=r.id,
            status=r.status,
            senders=r.senders,
            in_flight=r.in_flight,
            queued=r.queued,
            sent=r.sent,
            count=r.count,
            sends_per_minute=round(per_reservation.get(r.id, 0) / minutes, 1),
        )
        for r in repository.running_reservations(db)
    ]
    total, _ = repository.in_doubt_items(db, 0, 0)
    return FleetView(
        workers=workers,
        workers_alive=len(workers),
        slots_offered=sum(w.slots for w in workers),
        slots_in_use=sum(w.slots_in_use for w in workers),
        sends_per_minute=round(sum(per_reservation.values()) / minutes, 1),
        window_minutes=minutes,
        reservations=reservations,
        outcomes=repository.reasons_by_status(db, since=since),
        in_doubt=total,
        services=services(db),
    )


def item_out(item: SendItem) -> ItemOut:
    return ItemOut.model_validate(item, from_attributes=True)


def in_doubt(db: Session, limit: int = 100, offset: int = 0) -> InDoubtList:
    total, rows = repository.in_doubt_items(db, limit, offset)
    return InDoubtList(total=total, items=[item_out(i) for i in rows])


def resolve(db: Session, principal: Principal, item_id: int, body: ResolveRequest) -> ItemOut:
    """An operator's verdict on an in-doubt item, after looking at its evidence."""
    access.operator_only(principal)
    item = db.get(SendItem, item_id)
    if item is None:
        raise NotFound("送信")
    if item.state != ItemState.IN_DOUBT:
        raise ItemNotInDoubt()
    try:
        resolved = items.resolve_in_doubt(
            db,
            item_id,
            body.status,
            resolved_by=principal.user_id,
            note=body.note,
            reason=body.reason,
        )
    except ValueError as exc:
        if "in_doubt" in str(exc):
            raise ItemNotInDoubt() from exc
        raise InvalidResolution("失敗の理由が正しくありません") from exc
    return item_out(resolved)


# --- operators' control of the fleet ----------------------------------------------------------


def set_host_state(principal: Principal, host: str, state: fleet_control.HostState) -> None:
    """Drain, stop or resume one worker host (its supervisor reads this every 2 s)."""
    access.operator_only(principal)
    host = host.strip()
    if not host or len(host) > 200:
        raise NotFound("ワーカーホスト")
    fleet_control.set_host(host, state)


def host_states(db: Session) -> list[tuple[str, str, int]]:
    """(host, what the operators asked of it, its live worker processes) for every host that
    has a live worker or a standing request."""
    stale_before = clock.now() - ALIVE_WITHIN
    alive: dict[str, int] = {}
    for w in repository.workers(db):
        if w.heartbeat_at >= stale_before:
            alive[w.hostname] = alive.get(w.hostname, 0) + 1
    wishes = fleet_control.hosts()
    return [(h, wishes.get(h, "run"), alive.get(h, 0)) for h in sorted(set(alive) | set(wishes))]


def stop_all(db: Session, principal: Principal) -> int:
    """全停止: every approved reservation paused as an operator pause (recorded with who and
    when, resumed one by one); returns how many were paused."""
    from coordinator.reservations import service as reservations

    access.operator_only(principal)
    paused = 0
    for reservation_id in repository.approved_reservation_ids(db):
        reservations.pause(db, principal, reservation_id)
        paused += 1
    return paused
