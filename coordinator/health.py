"""`/healthz`: is the database reachable and current, is Redis answering.

Anyone may ask, so the answer says only ok or failed per part; why a part failed (which host,
which user, the driver's message) goes to the log, where operators read it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared import migrate
from shared.db import get_engine
from shared.redis_conn import get_redis

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


def _database() -> None:
    engine = get_engine()
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    migrate.ensure_current(engine)


def _redis() -> None:
    get_redis().ping()


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "redis": _redis}


@router.get("/healthz")
def healthz() -> JSONResponse:
    report: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            report[name] = "ok"
        except Exception:  # health reports any failure instead of raising it
            log.exception("health check %s failed", name)
            report[name] = "failed"
    ok = all(v == "ok" for v in report.values())
    report["status"] = "ok" if ok else "degraded"
    return JSONResponse(report, status_code=200 if ok else 503)
