"""The guard proxy's own limits: connections at once, and what one tunnel may carry."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from worker.netguard import GuardProxy, NetGuard


def _public_loopback() -> NetGuard:
    # 127.0.0.1 stands in for the public internet in these tests.
    return NetGuard(policy=lambda ip: str(ip) == "127.0.0.1")


@pytest.fixture
def endless_server() -> Iterator[int]:
    """A TCP server that sends bytes forever to whoever connects (a download bomb)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def flood(conn: socket.socket) -> None:
        block = b"x" * 65536
        try:
            while not stop.is_set():
                conn.sendall(block)
        except OSError:
            pass
        finally:
            conn.close()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=flood, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    stop.set()
    server.close()


def test_connections_over_the_cap_are_refused_at_once() -> None:
    proxy = GuardProxy(_public_loopback(), max_connections=4).start()
    idle = [socket.create_connection(("127.0.0.1", proxy.port)) for _ in range(4)]
    try:
        time.sleep(0.2)  # the four are being served (waiting for their request heads)
        with socket.create_connection(("127.0.0.1", proxy.port)) as extra:
            extra.settimeout(5)
            answer = extra.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503")
        assert proxy.refused_busy == 1
    finally:
        for conn in idle:
            conn.close()
        time.sleep(0.2)
    # Once they are gone the proxy serves again.
    with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
        conn.settimeout(5)
        conn.sendall(b"CONNECT 127.0.0.2:9 HTTP/1.1\r\n\r\n")
        assert conn.recv(4096).startswith(b"HTTP/1.1 403")
    proxy.stop()


def test_a_tunnel_carries_no_more_than_a_page_may_weigh(endless_server: int) -> None:
    limit = 200_000
    proxy = GuardProxy(_public_loopback(), max_response_bytes=limit).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
            conn.settimeout(10)
            conn.sendall(f"CONNECT 127.0.0.1:{endless_server} HTTP/1.1\r\n\r\n".encode())
            received = 0
            while chunk := conn.recv(65536):
                received += len(chunk)
        # the chunk that would cross the limit is not sent; the tunnel then closes
        assert limit - 65536 < received <= limit + 100
    finally:
        proxy.stop()


def test_a_tunnel_ends_at_its_time_limit(endless_server: int) -> None:
    proxy = GuardProxy(_public_loopback(), max_tunnel_seconds=0.5).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
            conn.settimeout(10)
            conn.sendall(f"CONNECT 127.0.0.1:{endless_server} HTTP/1.1\r\n\r\n".encode())
            started = time.monotonic()
            while conn.recv(65536):
                pass
            assert time.monotonic() - started < 5  # without the limit: never
    finally:
        proxy.stop()


def test_a_response_head_that_drips_is_dropped_at_its_time_limit() -> None:
    """Slowloris: one byte of the status line every 0.2 s would hold the proxy thread and one
    of its slots for as long as the server likes."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def drip() -> None:
        conn, _ = server.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                if stop.wait(0.2):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    threading.Thread(target=drip, daemon=True).start()
    proxy = GuardProxy(_public_loopback(), max_head_seconds=1.0).start()
    port = server.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
            conn.settimeout(20)
            conn.sendall(f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            started = time.monotonic()
            received = b""
            while chunk := conn.recv(65536):
                received += chunk
            assert time.monotonic() - started < 3  # the whole answer would take 9 s
            assert received == b""
    finally:
        stop.set()
        proxy.stop()
        server.close()
