"""``mikomi mailin`` as a process: it refuses to start without MIKOMI_REPLY_DOMAIN, serves on
the address it is given, logs what it refuses, and stops on SIGTERM (docs/operations.md#mailin)."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mikomi.supervisor import free_port
from shared import migrate
from shared.config import PROJECT_ROOT
from tests.support.processes import wait_until


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIKOMI_")}
    env.update({"MIKOMI_VAR_DIR": str(tmp_path), **extra})
    return env


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_without_a_reply_domain_it_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mikomi.cli", "mailin"],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "MIKOMI_REPLY_DOMAIN" in done.stderr


@pytest.mark.timeout(120)
def test_serves_refuses_logs_and_stops_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mailin.db'}"
    migrate.upgrade(url)
    port = free_port()
    log = tmp_path / "mailin.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mikomi.cli", "mailin", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=_env(tmp_path, MIKOMI_DATABASE_URL=url, MIKOMI_REPLY_DOMAIN="reply.cmd.test"),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _listening(port), 60, "mikomi mailin")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.ehlo()
            refused = {}
            for to in ("x@elsewhere.example", "r-0123456789abcdef0123@reply.cmd.test"):
                client.mail("a@b.example")
                refused[to] = client.rcpt(to)[0]
                client.rset()
        assert refused == {"x@elsewhere.example": 550, "r-0123456789abcdef0123@reply.cmd.test": 550}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    text = log.read_text(encoding="utf-8")
    assert "listening on 127.0.0.1:" in text
    assert "refused RCPT x@elsewhere.example" in text and ": relay" in text
    assert "refused RCPT r-0123456789abcdef0123@reply.cmd.test" in text
    assert "unknown_token" in text
    assert "mailin: stopped" in text
