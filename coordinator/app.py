"""The coordinator's FastAPI application."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from coordinator import health
from coordinator import metrics as metrics_endpoint
from coordinator.accounts import router as accounts
from coordinator.chat import router as chat
from coordinator.clicks import router as clicks
from coordinator.errors import (
    declare_error_responses,
    http_error_response,
    install_error_handlers,
)
from coordinator.fleet import router as fleet
from coordinator.notifications import router as notifications
from coordinator.prospects import router as prospects
from coordinator.prospects.upload import MAX_IMPORT_BYTES
from coordinator.reservations import router as reservations
from coordinator.responses import router as responses
from coordinator.scripts import router as scripts
from coordinator.suppression import router as suppression
from coordinator.tickets import router as tickets
from coordinator.web import router as web

STATIC_DIR = Path(__file__).resolve().parent / "static"
# JSON bodies are small; CSV uploads go to their own endpoints, up to the upload limit (plus
# room for the multipart envelope).
MAX_BODY_BYTES = 1_000_000
LARGE_BODY_PATHS = ("/api/v1/prospects/import", "/operator/prospects/import")
MAX_UPLOAD_BODY_BYTES = MAX_IMPORT_BYTES + 1_000_000


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, whether or not they declare a
    Content-Length: a declared length over the limit is refused before anything is read, and
    a streamed (chunked) body is counted as it arrives and refused at the first byte over."""

    def __init__(
        self, app: ASGIApp, *, limit: int, large_paths: tuple[str, ...], large_limit: int
    ) -> None:
        self.app = app
        self.limit = limit
        self.large_paths = large_paths
        self.large_limit = large_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.large_limit if scope["path"].startswith(self.large_paths) else self.limit
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await http_error_response(413)(scope, receive, send)
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI lets its own HTTPException through body parsing; the error
                    # handlers turn it into the same 413 as above.
                    raise HTTPException(status_code=413)
            return message

        await self.app(scope, counted, send)


# No inline scripts anywhere (app.js reads its data from JSON blocks); style attributes remain.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# The interactive API docs load their own inline script: no CSP there (they hold no data).
CSP_EXEMPT_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds the browser's security headers to every response: CSP, framing refused, no MIME
    sniffing, no referrer to other sites, and HSTS when the request came over https."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = [
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        if not scope["path"].startswith(CSP_EXEMPT_PATHS):
            extra.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app() -> FastAPI:
    app = FastAPI(title="Mikomi coordinator", version="0.1.0", openapi_url="/openapi.json")
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        limit=MAX_BODY_BYTES,
        large_paths=LARGE_BODY_PATHS,
        large_limit=MAX_UPLOAD_BODY_BYTES,
    )
    app.add_middleware(SecurityHeaders)

    app.include_router(health.router)
    app.include_router(metrics_endpoint.router)
    for module in (
        accounts,
        tickets,
        scripts,
        prospects,
        suppression,
        reservations,
        responses,
        chat,
        clicks,
        notifications,
        fleet,
        web,
    ):
        app.include_router(module.router)
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        # Browsers ask for it on every page whatever the page links; a 404 is a console error.
        return FileResponse(
            STATIC_DIR / "favicon.ico",
            media_type="image/x-icon",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_error_responses(
                get_openapi(title=app.title, version=app.version, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
