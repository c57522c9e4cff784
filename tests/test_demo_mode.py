"""MIKOMI_ALLOW_PRIVATE is for the demo and the tests: services refuse it without MIKOMI_DEMO=1,
loudly, and the demo says so on every page."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.config import Settings, get_settings, unsafe_setting
from tests.support.processes import service_env


@pytest.mark.parametrize("service", ["worker", "dispatcher", "sweeper", "coordinator"])
def test_services_refuse_allow_private_outside_the_demo(service: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = service_env(MIKOMI_ALLOW_PRIVATE="1", MIKOMI_VAR_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "mikomi.cli", service],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "refusing to start" in proc.stderr and "MIKOMI_ALLOW_PRIVATE" in proc.stderr


def test_up_without_demo_refuses_allow_private(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = service_env(MIKOMI_ALLOW_PRIVATE="1", MIKOMI_VAR_DIR=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "mikomi.cli", "up", "--no-demo", "--port", "1"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "refusing to start" in proc.stderr


def test_the_rule() -> None:
    assert unsafe_setting(Settings(allow_private=True)) is not None
    assert unsafe_setting(Settings(allow_private=True, demo=True)) is None
    assert unsafe_setting(Settings()) is None


def test_every_page_says_demo_in_demo_mode(client, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    assert ">デモ<" not in client.get("/login").text
    monkeypatch.setenv("MIKOMI_DEMO", "1")
    get_settings.cache_clear()
    try:
        assert ">デモ<" in client.get("/login").text
    finally:
        get_settings.cache_clear()
