"""Errors of the coordinator: a stable machine ``code`` and a Japanese ``message`` for the UI."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match


class AppError(Exception):
    """A rule said no. ``field`` names the form field the message belongs beside, if any."""

    status_code = 400

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status_code: int | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.details = details or {}
        if status_code is not None:
            self.status_code = status_code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            error["field"] = self.field
        if self.details:
            error["details"] = self.details
        return {"error": error}


class NotFound(AppError):
    status_code = 404

    def __init__(self, what: str = "対象") -> None:
        super().__init__("not_found", f"{what}が見つかりません")


class Forbidden(AppError):
    status_code = 403

    def __init__(self, message: str = "この操作を行う権限がありません") -> None:
        super().__init__("forbidden", message)


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, message: str = "ログインしてください") -> None:
        super().__init__("unauthorized", message)


class Conflict(AppError):
    status_code = 409


_HTTP_ERRORS = {
    400: (
        "invalid_request",
        "送信されたデータを読み取れません（形式または文字コードが正しくありません）",
    ),
    404: ("not_found", "ページが見つかりません"),
    405: ("method_not_allowed", "この操作はできません"),
    413: ("payload_too_large", "送信されたデータが大きすぎます"),
}


def http_error_response(
    status_code: int, detail: str = "", headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON error of an HTTP-level refusal (bad body, unknown path, too large, …)."""
    code, message = _HTTP_ERRORS.get(status_code, ("http_error", detail))
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status_code, headers=headers
    )


# The error envelope every 4xx answer carries, declared once in the OpenAPI document.
ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "a stable machine word"},
                "message": {"type": "string", "description": "Japanese, for the UI"},
                "field": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}
ERROR_STATUSES = {
    "400": "リクエストが規則に合いません",
    "401": "認証が必要です",
    "403": "権限がありません",
    "404": "見つかりません",
    "405": "この操作はできません",
    "409": "現在の状態ではできません",
    "413": "大きすぎます",
    "422": "入力内容が正しくありません",
    "429": "回数の上限を超えました",
}


def declare_error_responses(openapi: dict[str, Any]) -> dict[str, Any]:
    """Every operation of the document answers errors in the envelope: declare it (replacing
    FastAPI's own 422 shape, which this app never sends)."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": ref}},
                }
    return openapi


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append({"field": loc, "problem": err.get("msg", "")})
        first = problems[0]["field"] if problems else ""
        return JSONResponse(
            {
                "error": {
                    "code": "invalid_request",
                    "message": f"入力内容が正しくありません（{first}）"
                    if first
                    else "入力内容が正しくありません",
                    "details": {"problems": problems},
                }
            },
            status_code=422,
        )

    # An id or number beyond what the database stores (SQLite: OverflowError while binding;
    # PostgreSQL: SQLSTATE 22003) is the caller's mistake, not a server error.
    async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DataError) and getattr(exc.orig, "sqlstate", None) != "22003":
            raise exc
        return JSONResponse(
            {"error": {"code": "number_out_of_range", "message": "数値が大きすぎます"}},
            status_code=400,
        )

    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the first route that matched the path; a path served by
            # several routes (GET and POST apart) allows all of their methods.
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return http_error_response(exc.status_code, str(exc.detail), headers or None)


def _allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE and getattr(route, "methods", None):
            methods |= set(route.methods)
    return sorted(methods)
