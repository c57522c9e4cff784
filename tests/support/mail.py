"""An inbox for a real SMTP server (aiosmtpd); the ``smtp`` fixture (tests/conftest.py) runs
one on a free loopback port."""

from __future__ import annotations

import email
from email.message import Message
from email.policy import default as default_policy
from typing import Any


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = email.message_from_bytes(envelope.original_content, policy=default_policy)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"
