"""Heartbeats of the dispatcher and the sweeper, in the workers' table (``fleet_workers``,
state ``dispatcher`` / ``sweeper``): the フリート page turns red, and
``mikomi_service_heartbeat_age_seconds`` grows, when one of them stops."""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy import delete, update

from shared import clock
from shared.db import transaction
from shared.metrics import SERVICE_STATES
from shared.models import FleetWorker

log = logging.getLogger(__name__)

BEAT_EVERY_S = 5.0


def beat_id(service: str) -> str:
    return f"{service}-{socket.gethostname()}-{os.getpid()}"


def beat(service: str) -> None:
    """Write this process's heartbeat; never raises (the service's own work comes first)."""
    if service not in SERVICE_STATES:
        raise ValueError(f"not a service with a heartbeat: {service}")
    now = clock.now()
    try:
        with transaction() as db:
            done = db.execute(
                update(FleetWorker)
                .where(FleetWorker.id == beat_id(service))
                .values(heartbeat_at=now)
            )
            if getattr(done, "rowcount", 0) == 0:
                db.add(
                    FleetWorker(
                        id=beat_id(service),
                        hostname=socket.gethostname(),
                        pid=os.getpid(),
                        started_at=now,
                        heartbeat_at=now,
                        state=service,
                        sends=0,
                    )
                )
    except Exception as exc:
        log.warning("%s heartbeat failed: %s", service, exc)


def forget(service: str) -> None:
    """Remove this process's heartbeat on a clean stop (a stopped service is not a stale one)."""
    try:
        with transaction() as db:
            db.execute(delete(FleetWorker).where(FleetWorker.id == beat_id(service)))
    except Exception as exc:
        log.warning("could not remove the %s heartbeat: %s", service, exc)
