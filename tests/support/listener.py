"""A socket that counts connections, for the worker's network-guard tests (the ``listen``
fixture, tests/worker/conftest.py, makes and closes them)."""

from __future__ import annotations

import socket
import threading


class Listener:
    """A listening socket that counts the connections it accepts (and answers none): proof
    that the worker never connected to an address it must refuse."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_server((host, 0))
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
