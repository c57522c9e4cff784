"""Watching real processes from a test: alive or not, a supervisor's workers, waiting for a
condition without sleeping longer than needed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(predicate: Callable[[], T], timeout_s: float) -> T:
    """The first truthy value of ``predicate`` within ``timeout_s``, else its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, every: float = 0.2
) -> None:
    """Wait until ``predicate`` holds; fails the test saying ``what`` it waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def worker_pid_of(worker_id: str | None) -> int | None:
    """Worker ids are ``<hostname>-<pid>``."""
    if not worker_id:
        return None
    tail = worker_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def workers_of(pid: int) -> set[int]:
    """A worker supervisor's worker processes (spawned children, not the resource tracker)."""
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


def service_env(**settings: str) -> dict[str, str]:
    """The environment for one of our programs run as a subprocess: this process's own, without
    its ``MIKOMI_*`` settings (the test's databases, Redis numbers…), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIKOMI_")}
    env.update(settings)
    return env
