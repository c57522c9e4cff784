"""mailin's memory during DATA (docs/rules.md#responses, RP1): a message that is one endless
line (no line end) is not held in memory up to whatever the client sends — aiosmtpd keeps the
pieces of an over-long line until its line end comes; mailin ends such a connection once the
line is longer than MIKOMI_MAILIN_MAX_BYTES, and nothing is stored. Over a real socket."""

from __future__ import annotations

import socket

from tests.coordinator.responses.replies import SENT, Mailin, make_sent_items, snapshot

CHUNK = b"A" * 65_536
MOST = 64 * 1024 * 1024  # far beyond the test server's 50,000-byte cap and any socket buffer


def _answer(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        got = sock.recv(4096)
        if not got:
            break
        data += got
    return data


def test_an_endless_line_in_data_ends_the_connection(mailin: Mailin) -> None:
    sent = make_sent_items([SENT])
    [address] = sent.items
    before = snapshot(sent.reservation_id)
    with socket.create_connection(("127.0.0.1", mailin.port), timeout=10) as sock:
        assert _answer(sock).startswith(b"220")
        for command, code in (
            (b"HELO client.example.jp", b"250"),
            (b"MAIL FROM:<tanaka@prospect.example.jp>", b"250"),
            (f"RCPT TO:<{address}>".encode(), b"250"),
            (b"DATA", b"354"),
        ):
            sock.sendall(command + b"\r\n")
            assert _answer(sock).startswith(code), command
        pushed = 0
        closed = False
        try:
            while pushed < MOST:
                sock.sendall(CHUNK)
                pushed += len(CHUNK)
            sock.sendall(b"\r\n.\r\n")
            answer = _answer(sock)
            closed = answer == b""
        except OSError:  # reset or broken pipe: mailin ended the connection
            closed = True
    assert closed, f"mailin read {pushed} bytes of one line and answered {answer!r}"
    assert snapshot(sent.reservation_id) == before
