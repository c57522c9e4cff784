"""Fleet endpoints: the live SSE stream of a reservation, the operators' fleet view and the
resolution of in-doubt sends."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from redis.asyncio import Redis as AsyncRedis
from redis.exceptions import RedisError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from coordinator.accounts.service import Principal
from coordinator.database import get_db
from coordinator.dependencies import DB, Operator, identified
from coordinator.errors import AppError, Unauthorized
from coordinator.fleet import service
from coordinator.fleet.schemas import FleetView, InDoubtList, ItemOut, ResolveRequest, StopAllOut
from coordinator.reservations import service as reservations
from shared import events, fleet_control
from shared.config import get_settings
from shared.db import transaction

router = APIRouter(tags=["fleet"])

MAX_STREAM_SECONDS = 600.0  # a stream ends after 10 minutes; EventSource reconnects by itself
KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 5.0  # re-read even without events: a lost event costs at most this long
RETRY_MS = 2000

SessionOpener = Callable[[], AbstractContextManager[Session]]

# Open live streams per user in this process: each holds a Redis connection and a slot of the
# server, so one user (or a page left open in many tabs) may not hold more than this many.
MAX_STREAMS_PER_USER = 8


class StreamSlots:
    """Counts each user's open streams; a stream takes a slot before it starts and gives it
    back when it ends, however it ends."""

    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        self._open: dict[int, int] = {}
        self._lock = threading.Lock()

    def take(self, user_id: int) -> None:
        with self._lock:
            if self._open.get(user_id, 0) >= self.per_user:
                raise AppError(
                    "too_many_streams",
                    "ライブ表示を開いている画面が多すぎます。使っていないタブを閉じてください",
                    status_code=429,
                )
            self._open[user_id] = self._open.get(user_id, 0) + 1

    def give_back(self, user_id: int) -> None:
        with self._lock:
            left = self._open.get(user_id, 0) - 1
            if left > 0:
                self._open[user_id] = left
            else:
                self._open.pop(user_id, None)

    def open_for(self, user_id: int) -> int:
        with self._lock:
            return self._open.get(user_id, 0)


STREAM_SLOTS = StreamSlots(MAX_STREAMS_PER_USER)


def stream_sessions() -> SessionOpener:
    """How the SSE stream opens its sessions (tests override it with their own session).

    The stream outlives the request's transaction, so every read is a short transaction of
    its own."""
    return transaction


def _sse(data: dict[str, Any], event: str = "counters") -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


async def _counter_stream(
    request: Request, reservation_id: int, open_session: SessionOpener, max_seconds: float
) -> AsyncIterator[str]:
    def read() -> dict[str, Any] | None:
        with open_session() as db:
            return service.live_snapshot(db, reservation_id)

    loop = asyncio.get_running_loop()
    started = loop.time()
    redis = AsyncRedis.from_url(get_settings().effective_redis_url)
    pubsub = redis.pubsub()
    subscribed = True
    try:
        await pubsub.subscribe(events.channel(reservation_id))
    except (RedisError, OSError):
        subscribed = False  # Redis is away: keep the stream alive on polling alone
    try:
        yield f"retry: {RETRY_MS}\n\n"
        last = await run_in_threadpool(read)
        if last is None:
            return
        yield _sse(last)
        last_read = last_write = loop.time()
        while loop.time() - started < max_seconds:
            if await request.is_disconnected():
                return
            message = None
            if subscribed:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except (RedisError, OSError):
                    subscribed = False
            else:
                await asyncio.sleep(1.0)
            now = loop.time()
            if message is not None or now - last_read >= POLL_SECONDS:
                snapshot = await run_in_threadpool(read)
                last_read = now
                if snapshot is None:
                    return
                if snapshot != last:
                    last = snapshot
                    last_write = now
                    yield _sse(snapshot)
                    continue
            if now - last_write >= KEEPALIVE_SECONDS:
                last_write = now
                yield ": keep-alive\n\n"
        yield _sse({"reason": "max_lifetime"}, event="end")
    finally:
        try:
            await pubsub.aclose()
            await redis.aclose()
        except (RedisError, OSError):
            pass


# The stream outlives the request: its session must close when the endpoint returns, not when
# the stream ends, or a connection would sit idle in a transaction for the stream's lifetime.
FunctionDB = Annotated[Session, Depends(get_db, scope="function")]


async def _stream_principal(request: Request, db: FunctionDB) -> Principal:
    principal = await identified(request, db)  # a GET: no CSRF token to check
    if principal is None:
        raise Unauthorized()
    return principal


@router.get("/api/v1/reservations/{reservation_id}/events")
async def reservation_events(
    reservation_id: int,
    request: Request,
    db: FunctionDB,
    principal: Annotated[Principal, Depends(_stream_principal)],
    open_session: Annotated[SessionOpener, Depends(stream_sessions)],
    max_seconds: Annotated[float, Query(gt=0, le=MAX_STREAM_SECONDS)] = MAX_STREAM_SECONDS,
) -> StreamingResponse:
    """SSE of the reservation's live counters: a snapshot at once, then one per change."""
    reservations.visible(db, principal, reservation_id)
    STREAM_SLOTS.take(principal.user_id)

    async def counted() -> AsyncIterator[str]:
        try:
            async for chunk in _counter_stream(request, reservation_id, open_session, max_seconds):
                yield chunk
        finally:
            STREAM_SLOTS.give_back(principal.user_id)

    return StreamingResponse(
        counted(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/api/v1/fleet", response_model=FleetView)
def fleet(
    db: DB, _operator: Operator, minutes: Annotated[int, Query(ge=1, le=1440)] = 5
) -> FleetView:
    """Workers alive and what each does, sends per minute overall and per reservation,
    outcomes by reason over the last ``minutes``."""
    return service.fleet_view(db, minutes)


@router.get("/api/v1/fleet/in-doubt", response_model=InDoubtList)
def fleet_in_doubt(
    db: DB,
    _operator: Operator,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> InDoubtList:
    return service.in_doubt(db, limit, offset)


@router.post("/api/v1/items/{item_id}/resolve", response_model=ItemOut)
def resolve_item(item_id: int, body: ResolveRequest, db: DB, operator: Operator) -> ItemOut:
    """Resolve an in-doubt send as sent (one ticket consumed) or failed."""
    return service.resolve(db, operator, item_id, body)


@router.post("/api/v1/fleet/hosts/{host}/{action}", status_code=204)
def control_host(
    host: str, action: Literal["drain", "stop", "resume"], operator: Operator
) -> Response:
    """drain: the host's workers finish their sends and take no new ones; stop: the same, then
    its `mikomi worker` exits; resume: back to work."""
    service.set_host_state(operator, host, fleet_control.ACTIONS[action])
    return Response(status_code=204)


@router.post("/api/v1/fleet/stop-all", response_model=StopAllOut)
def stop_all(db: DB, operator: Operator) -> StopAllOut:
    """全停止: every approved reservation paused as an operator pause."""
    return StopAllOut(paused=service.stop_all(db, operator))
