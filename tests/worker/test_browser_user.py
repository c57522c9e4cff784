"""The browser runs sandboxed, never as root, with none of the worker's secrets in reach."""

from __future__ import annotations

import os
import pwd
from pathlib import Path

import pytest

from shared.config import Settings
from worker import browser_user
from worker.driver import Driver


def _browser_processes() -> list[Path]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if argv0.endswith((b"chromium-headless-shell", b"chromium")) or b"/chromium " in argv0:
            found.append(proc)
    return found


@pytest.mark.e2e
def test_the_browser_is_sandboxed_unprivileged_and_without_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if os.geteuid() == 0:
        try:
            expected_uid = pwd.getpwnam(browser_user.BROWSER_USER).pw_uid
        except KeyError:
            pytest.fail("run deploy/install.sh: the browser user is missing")
    else:
        expected_uid = os.geteuid()
    monkeypatch.setenv("MIKOMI_DATABASE_URL", "postgresql://u:very-secret-pass@db.example/x")
    before = {p.name for p in _browser_processes()}
    with Driver(Settings(allow_private=True)):
        mine = [p for p in _browser_processes() if p.name not in before]
        assert mine, "no browser process found"
        for proc in mine:
            status = (proc / "status").read_text()
            uid = int(
                next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1]
            )
            assert uid == expected_uid
            assert b"--no-sandbox" not in (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
            assert b"very-secret-pass" not in environ and b"MIKOMI_" not in environ


def test_root_without_the_browser_user_falls_back_loudly(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(browser_user.os, "geteuid", lambda: 0)
    monkeypatch.setattr(browser_user, "BROWSER_USER", "no-such-user-xyz")
    options = browser_user.launch_options(Settings())
    assert options["chromium_sandbox"] is False
    assert "without its sandbox" in caplog.text
    assert "MIKOMI_DATABASE_URL" not in options["env"]
