"""`mikomi up` (what `make run` starts): healthy in seconds, and Ctrl-C leaves no process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mikomi.supervisor import free_port
from tests.support.processes import service_env

pytestmark = pytest.mark.e2e


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    stack = [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_up_serves_healthz_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    port = free_port()
    env = service_env(MIKOMI_VAR_DIR=str(tmp_path / "var"), MIKOMI_DEMO="1")  # as `make run`
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mikomi.cli",
            "up",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-demo",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if resp.status_code == 200:
                    health = resp.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert health is not None, (
            proc.stdout.read().decode() if proc.poll() is not None else "no health"
        )
        assert health["database"] == "ok"
        assert health["redis"] == "ok"
        assert (tmp_path / "var" / "mikomi.db").exists()
        assert (tmp_path / "var" / "redis").is_dir()
        time.sleep(2)  # let the workers start their browsers
        started = _descendants(proc.pid)
        assert len(started) >= 5  # redis, coordinator, dispatcher, sweeper, worker (+ browsers)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        time.sleep(0.5)
        left = sorted(pid for pid in started if _alive(pid))
        assert left == [], f"processes left behind: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
