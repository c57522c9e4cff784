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
from tests.support.processes import alive, service_env, wait_for, workers_of


@pytest.mark.timeout(120)
def test_a_hung_worker_process_is_killed_and_replaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    env = service_env(
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
        first = wait_for(lambda: workers_of(supervisor.pid), 30)
        assert len(first) == 1, first
        (hung,) = first
        time.sleep(2)  # up and ticking
        os.kill(hung, signal.SIGSTOP)  # alive, but silent: what a page that hangs Python does
        replaced = wait_for(lambda: workers_of(supervisor.pid) - {hung}, 30)
        assert replaced, "no new worker process"
        assert wait_for(lambda: not alive(hung), 10)
        # Not a restart loop: the new process stays.
        time.sleep(5)
        assert workers_of(supervisor.pid) == replaced
    finally:
        supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=60)[0].decode()
    assert f"worker process {hung} silent for more than 3 s; replacing it" in output
