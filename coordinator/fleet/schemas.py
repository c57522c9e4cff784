"""Request and response bodies of the fleet endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class ResolveRequest(BaseModel):
    status: Literal["sent", "failed"]
    note: str = Field(default="", max_length=1000)
    # For "failed": a reason of the failed vocabulary (default validation_error).
    reason: str | None = None


class ItemOut(BaseModel):
    id: int
    reservation_id: int
    member_id: int
    company: str
    domain: str
    url: str
    state: str
    reason: str | None
    worker_id: str | None
    attempts: int
    contact_url: str | None
    final_url: str | None
    evidence: dict[str, Any] | None
    dispatched_at: datetime | None
    submitting_at: datetime | None
    finished_at: datetime | None
    resolved_by: int | None


class InDoubtList(BaseModel):
    total: int
    items: list[ItemOut]


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    state: str
    current_item_id: int | None
    current_reservation_id: int | None
    current_domain: str | None
    sends: int
    slots: int  # browser slots the process offers now (worker/slots.py)
    slots_in_use: int
    started_at: datetime
    heartbeat_at: datetime


class ServiceBeat(BaseModel):
    """The dispatcher's or the sweeper's latest heartbeat; ``stale`` when it is too old or
    there is none (the service is down: nothing is dispatched, or no time rule runs)."""

    service: str
    hostname: str | None
    heartbeat_at: datetime | None
    stale: bool


class ReservationRate(BaseModel):
    reservation_id: int
    status: str
    senders: int
    in_flight: int
    queued: int
    sent: int
    count: int
    sends_per_minute: float


class FleetView(BaseModel):
    workers: list[WorkerOut]
    workers_alive: int
    slots_offered: int  # the fleet's capacity: the slots of its live worker processes
    slots_in_use: int
    sends_per_minute: float
    window_minutes: int
    reservations: list[ReservationRate]
    outcomes: dict[str, dict[str, int]]  # status → reason ("" for none) → count, in the window
    in_doubt: int
    services: list[ServiceBeat]


class StopAllOut(BaseModel):
    paused: int  # approved reservations paused by the 全停止
