"""MIKOMI_LOG_FORMAT=json: every service writes one JSON object per line with its name, host,
pid and the send's context; its first line says it started, with its settings, secrets masked."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared import logs, migrate
from shared.config import Settings
from tests.support.processes import service_env


def test_json_lines_carry_the_service_and_the_send_context(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure("worker", Settings(log_format="json"))
    try:
        with logs.context(reservation=7, item=42, attempt_token="tok"):
            logging.getLogger("worker.jobs").info("item %s: %s", 42, "sent")
        logging.getLogger("worker.jobs").warning("no context here")
    finally:
        logging.getLogger().handlers.clear()
    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "item 42: sent" and first["level"] == "INFO"
    assert (first["service"], first["host"], first["pid"]) == (
        "worker",
        socket.gethostname(),
        os.getpid(),
    )
    assert (first["reservation"], first["item"], first["attempt_token"]) == (7, 42, "tok")
    assert "item" not in second


def test_settings_are_logged_with_secrets_masked() -> None:
    shown = logs.masked_settings(
        Settings(
            database_url="postgresql://mikomi:db-secret@db/mikomi",
            redis_url="redis://u:redis-secret@r:6379/0",
            smtp_password="smtp-secret",
            metrics_token="scrape-secret",
        )
    )
    text = json.dumps(shown)
    for secret in ("db-secret", "redis-secret", "smtp-secret", "scrape-secret"):
        assert secret not in text
    assert shown["database_url"].startswith("postgresql://mikomi:***@db/")


@pytest.mark.parametrize("service", ["sweeper", "dispatcher"])
def test_a_service_logs_json_from_its_first_line(service: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    migrate.upgrade(url)
    env = service_env(
        MIKOMI_DATABASE_URL=url,
        MIKOMI_LOG_FORMAT="json",
        MIKOMI_VAR_DIR=str(tmp_path),
        MIKOMI_SMTP_PASSWORD="mail-secret",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mikomi.cli", service],
        env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        first = proc.stderr.readline() if proc.stderr else ""
        time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    line = json.loads(first)
    assert line["service"] == service and f"{service} starting" in line["message"]
    assert "mail-secret" not in first + rest
    assert all(json.loads(other)["service"] == service for other in rest.splitlines() if other)
