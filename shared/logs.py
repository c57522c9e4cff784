"""How every service logs: ``MIKOMI_LOG_FORMAT`` = ``text`` (default) or ``json``.

JSON lines carry ``ts``, ``level``, ``logger``, ``message``, ``service``, ``host``, ``pid`` and
whatever the running code put in :func:`context` (``reservation``, ``item``,
``attempt_token`` in the send job), so one log store can follow an item across hosts. Each
service logs its start with its settings, secrets masked.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from shared.config import Settings, get_settings

_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "mikomi_log_context", default=None
)
_SECRET_WORDS = ("password", "secret", "token", "key")


@contextlib.contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line written inside the block (this thread or task)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


class _Fields(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.host = socket.gethostname()

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.host = self.host
        record.context = _CONTEXT.get() or {}
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": getattr(record, "service", ""),
            "host": getattr(record, "host", ""),
            "pid": record.process,
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(service)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "context", {})
        if fields:
            text += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def configure(service: str, settings: Settings | None = None) -> None:
    """Route every log line of this process to stderr in the configured format."""
    settings = settings or get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Fields(service))
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def masked_settings(settings: Settings) -> dict[str, Any]:
    """The settings as a dict, with passwords, tokens and keys (and URL passwords) hidden."""
    from sqlalchemy.engine import make_url

    shown: dict[str, Any] = {}
    for name, value in settings.model_dump().items():
        if any(word in name for word in _SECRET_WORDS) and value:
            shown[name] = "***"
        elif name.endswith("_url") and value and "@" in str(value):
            try:
                shown[name] = make_url(str(value)).render_as_string(hide_password=True)
            except Exception:
                shown[name] = "***"
        else:
            shown[name] = str(value) if not isinstance(value, (int, float, bool)) else value
    return shown


def log_start(service: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    logging.getLogger(f"mikomi.{service}").info(
        "%s starting (pid %s) with settings %s",
        service,
        os.getpid(),
        json.dumps(masked_settings(settings), ensure_ascii=False, sort_keys=True),
    )
