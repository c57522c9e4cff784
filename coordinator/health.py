"""`/healthz`: is the database reachable and current, is Redis answering."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared import migrate
from shared.db import get_engine
from shared.redis_conn import get_redis

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> JSONResponse:
    report: dict[str, Any] = {}
    ok = True
    try:
        engine = get_engine()
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        migrate.ensure_current(engine)
        report["database"] = {"ok": True, "dialect": engine.dialect.name}
    except Exception as exc:  # health reports any failure instead of raising it
        ok = False
        report["database"] = {"ok": False, "error": str(exc)}
    try:
        get_redis().ping()
        report["redis"] = {"ok": True}
    except Exception as exc:
        ok = False
        report["redis"] = {"ok": False, "error": str(exc)}
    report["status"] = "ok" if ok else "degraded"
    return JSONResponse(report, status_code=200 if ok else 503)
