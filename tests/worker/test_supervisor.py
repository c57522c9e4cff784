"""The worker supervisor replaces a process that hangs (alive but silent), not only a dead one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from shared import migrate


def _workers_of(pid: int) -> set[int]:
    """The supervisor's worker processes (spawned children, not the resource tracker)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"multiprocessing.spawn" in cmdline and b"resource_tracker" not in cmdline:
                found.add(int(child))
    return found


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _wait_for(predicate, timeout_s: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


@pytest.mark.timeout(120)
def test_a_hung_worker_process_is_killed_and_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIKOMI_")}
    env.update(
        MIKOMI_DATABASE_URL=url,
        MIKOMI_REDIS_URL="redis://127.0.0.1:6379/0",
        MIKOMI_VAR_DIR=str(tmp_path / "var"),
        MIKOMI_WORKER_STALL_SECONDS="3",
    )
    queue = f"test-stall-{uuid.uuid4().hex[:8]}"  # no job ever arrives on it
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "worker", "-n", "1", "--queue", queue],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = _wait_for(lambda: _workers_of(supervisor.pid), 30)
        assert len(first) == 1, first
        (hung,) = first
        time.sleep(2)  # up and ticking
        os.kill(hung, signal.SIGSTOP)  # alive, but silent: what a page that hangs Python does
        replaced = _wait_for(lambda: _workers_of(supervisor.pid) - {hung}, 30)
        assert replaced, "no new worker process"
        assert _wait_for(lambda: _gone(hung), 10)
        # Not a restart loop: the new process stays.
        time.sleep(5)
        assert _workers_of(supervisor.pid) == replaced
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=60)[0].decode()
    assert f"worker process {hung} silent for more than 3 s; replacing it" in output
