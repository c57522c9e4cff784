"""The coordinator's FastAPI application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from coordinator import health
from coordinator.accounts import router as accounts
from coordinator.chat import router as chat
from coordinator.errors import install_error_handlers
from coordinator.fleet import router as fleet
from coordinator.notifications import router as notifications
from coordinator.prospects import router as prospects
from coordinator.reservations import router as reservations
from coordinator.scripts import router as scripts
from coordinator.suppression import router as suppression
from coordinator.tickets import router as tickets
from coordinator.web import router as web

STATIC_DIR = Path(__file__).resolve().parent / "static"
# JSON bodies are small; CSV uploads stream through their own endpoint with their own limit.
MAX_BODY_BYTES = 1_000_000
LARGE_BODY_PATHS = ("/api/v1/prospects/import", "/operator/prospects/import")


def create_app() -> FastAPI:
    app = FastAPI(title="Mikomi coordinator", version="0.1.0", openapi_url="/openapi.json")
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        length = request.headers.get("content-length")
        if (
            length
            and length.isdigit()
            and int(length) > MAX_BODY_BYTES
            and not request.url.path.startswith(LARGE_BODY_PATHS)
        ):
            return JSONResponse(
                {
                    "error": {
                        "code": "payload_too_large",
                        "message": "送信されたデータが大きすぎます",
                    }
                },
                status_code=413,
            )
        return await call_next(request)

    app.include_router(health.router)
    for module in (
        accounts,
        tickets,
        scripts,
        prospects,
        suppression,
        reservations,
        chat,
        notifications,
        fleet,
        web,
    ):
        app.include_router(module.router)
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = create_app()
