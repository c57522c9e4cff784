"""An operator drains, resumes and stops a worker host through Redis; the host's supervisor
obeys within seconds: drained processes finish and exit, the supervisor stays; resumed, new
processes start; stopped, the supervisor itself exits."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from redis import Redis

from shared import fleet_control, migrate
from tests.support.processes import service_env, wait_for, workers_of

# A Redis database of this test's own: the control hash of this host must not reach the
# workers of other tests.
REDIS_URL = "redis://127.0.0.1:6379/13"


@pytest.mark.timeout(180)
def test_drain_resume_and_stop_a_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from shared.config import get_settings
    from shared.redis_conn import _redis_for

    url = f"sqlite:///{tmp_path / 'w.db'}"
    migrate.upgrade(url)
    env = service_env(
        MIKOMI_DATABASE_URL=url, MIKOMI_REDIS_URL=REDIS_URL, MIKOMI_VAR_DIR=str(tmp_path)
    )
    monkeypatch.setenv("MIKOMI_REDIS_URL", REDIS_URL)
    get_settings.cache_clear()
    _redis_for.cache_clear()
    host = socket.gethostname()
    Redis.from_url(REDIS_URL).delete(fleet_control.KEY)
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "worker", "-n", "2", "--queue", f"test-ctl-{uuid.uuid4().hex[:6]}"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        first = wait_for(
            lambda: len(workers_of(supervisor.pid)) == 2 and workers_of(supervisor.pid), 30
        )
        assert first and len(first) == 2
        fleet_control.set_host(host, "drain")
        assert wait_for(lambda: not workers_of(supervisor.pid), 60), "still serving"
        time.sleep(3)
        assert supervisor.poll() is None and not workers_of(supervisor.pid)  # up, idle
        fleet_control.set_host(host, "run")
        again = wait_for(
            lambda: len(workers_of(supervisor.pid)) == 2 and workers_of(supervisor.pid), 30
        )
        assert again and not (again & first)  # new processes
        fleet_control.set_host(host, "stop")
        assert supervisor.wait(timeout=90) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.send_signal(signal.SIGTERM)
        output = supervisor.communicate(timeout=90)[0].decode()
        Redis.from_url(REDIS_URL).delete(fleet_control.KEY)
        get_settings.cache_clear()
        _redis_for.cache_clear()
    assert "an operator drains this host" in output
    assert "an operator resumed this host" in output
    assert "an operator stopped this host" in output
