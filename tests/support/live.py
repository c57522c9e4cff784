"""A real coordinator on a loopback port and an SSE client of it, for the fleet's live tests
and the benchmark."""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from mikomi.supervisor import free_port
from tests.support.fleet import Fleet


class Coordinator:
    """The FastAPI app under uvicorn in a thread (it reads the fleet's database and Redis)."""

    def __init__(self) -> None:
        from coordinator.app import create_app

        self.port = free_port()
        config = uvicorn.Config(
            create_app(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Coordinator:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("coordinator did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def api_token(fleet: Fleet, role: str = "operator") -> str:
    import uuid

    from coordinator.accounts import service
    from shared.enums import Role

    with fleet.session() as db:
        user = service.create_user(
            db,
            email=f"{role}-{uuid.uuid4().hex[:8]}@example.test",
            password="password-123",
            role=Role(role),
            company=None if role == "operator" else "ライブ株式会社",
            name=f"ライブ {role}",
        )
        token, _ = service.issue_token(db, user, "api")
        return token


@dataclass
class SseClient:
    """Reads ``GET /api/v1/reservations/{id}/events`` in a thread; events land in ``events``
    with the monotonic time they arrived."""

    url: str
    token: str
    events: queue.Queue[tuple[float, str, dict[str, Any]]] = field(default_factory=queue.Queue)
    ended: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _client: httpx.Client | None = None
    _response: httpx.Response | None = None

    def start(self) -> SseClient:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        self._client = httpx.Client(timeout=httpx.Timeout(10.0, read=None))
        try:
            with self._client.stream(
                "GET", self.url, headers={"Authorization": f"Bearer {self.token}"}
            ) as response:
                response.raise_for_status()
                self._response = response
                name, data = "message", ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif line == "" and data:
                        self.events.put((time.monotonic(), name, json.loads(data)))
                        name, data = "message", ""
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def next(self, timeout: float) -> tuple[float, str, dict[str, Any]]:
        return self.events.get(timeout=timeout)

    def wait_for(self, predicate: Any, timeout: float) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            at, _name, data = self.next(max(0.01, deadline - time.monotonic()))
            if predicate(data):
                return at, data

    def close(self) -> None:
        # Shut the socket down under the reading thread: it sees EOF at once, and the server
        # sees the disconnect (closing the client from here would not interrupt the read).
        stream = self._response.extensions.get("network_stream") if self._response else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._client is not None:
            self._client.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
