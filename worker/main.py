"""``mikomi worker --processes N``: N RQ worker processes, each with its own long-lived browser.

The supervisor (this process) starts the workers as *spawned* processes (no fork of a parent
holding database or Redis connections), restarts any that dies, and on SIGTERM/SIGINT asks
each worker once to stop: RQ's warm shutdown lets the current job finish, so a submit in
progress is never cut. A worker that still has not stopped after the send deadline is killed;
its item's lease then expires and the dispatcher's reaper puts it where it belongs. A worker
that stops ticking (a page held the interpreter, a call hung) for ``MIKOMI_WORKER_STALL_SECONDS``
is killed with its browser and replaced in the same way.

Each worker is a ``SlotWorker`` (an ``rq.SimpleWorker`` that runs only the jobs of
``shared.jobs``) — jobs run in the worker process itself, not in a forked child per job, one per
browser slot thread, as many at once as the slot controller allows (worker/slots.py) — so each
slot's browser lives across jobs. Workers on other machines need only
``MIKOMI_DATABASE_URL`` and ``MIKOMI_REDIS_URL``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Sequence
from multiprocessing.context import SpawnProcess
from multiprocessing.sharedctypes import Synchronized

from shared import fleet_control
from shared.jobs import SEND_QUEUE

log = logging.getLogger(__name__)

DEFAULT_QUEUES = (SEND_QUEUE,)
RESTART_BACKOFF_S = 1.0
CONTROL_EVERY_S = 2.0  # how often the supervisor reads the operators' wish for this host
TICK_S = 1.0


def _tick(alive: Synchronized[float]) -> None:
    # Any Python code that holds the interpreter (a runaway pattern, a stuck C call) stops
    # this thread too: the supervisor reads the silence and replaces the process.
    while True:
        alive.value = time.monotonic()
        time.sleep(TICK_S)


def _worker_main(queues: Sequence[str], alive: Synchronized[float]) -> None:
    # Own process group: a terminal's Ctrl-C reaches only the supervisor, which then asks each
    # worker exactly once (a second signal would be RQ's cold shutdown, mid-job).
    os.setpgrp()
    threading.Thread(target=_tick, args=(alive,), name="mikomi-alive", daemon=True).start()
    from shared import logs

    logs.configure("worker")
    from rq.serializers import JSONSerializer

    from shared.db import reset_engine
    from shared.redis_conn import get_redis
    from worker import heartbeat, jobs, slots
    from worker.rq_worker import SlotWorker

    reset_engine()
    worker_id = heartbeat.default_worker_id()
    os.environ["MIKOMI_WORKER_ID"] = worker_id
    controller = slots.SlotController(slots.limits_from_settings())
    heartbeat.STATUS.set_slots(controller.slots, 0)
    beat = heartbeat.Heartbeat(worker_id).start()
    rq_worker = SlotWorker(
        list(queues),
        connection=get_redis(),
        serializer=JSONSerializer,
        name=worker_id,
        controller=controller,
    )
    try:
        rq_worker.work(with_scheduler=False, logging_level="WARNING")
    finally:
        heartbeat.STATUS.set("stopping")
        jobs.close_sender()
        beat.stop()


def run(processes: int, queues: Sequence[str] = DEFAULT_QUEUES) -> int:
    """Run ``processes`` worker processes until SIGTERM/SIGINT; returns an exit code."""
    from shared.config import get_settings

    processes = max(1, processes)
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    launched: list[int] = []
    stall_s = get_settings().worker_stall_seconds
    ticks: dict[int, Synchronized[float]] = {}

    def launch() -> SpawnProcess:
        alive: Synchronized[float] = ctx.Value("d", time.monotonic())  # type: ignore[assignment]
        proc = ctx.Process(target=_worker_main, args=(tuple(queues), alive), name="mikomi-worker")
        proc.start()
        if proc.pid is not None:
            launched.append(proc.pid)
            ticks[proc.pid] = alive
        log.info("worker process %s started", proc.pid)
        return proc

    def stalled(proc: SpawnProcess) -> bool:
        alive = ticks.get(proc.pid or 0)
        return alive is not None and time.monotonic() - alive.value > stall_s

    host = socket.gethostname()
    slots: list[SpawnProcess] = [launch() for _ in range(processes)]
    draining = False
    next_look = 0.0
    while not stop.is_set():
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + CONTROL_EVERY_S
            wish = fleet_control.host_state(host)
            if wish == "stop":
                log.info("an operator stopped this host: draining, then exiting")
                break
            if wish == "drain" and not draining:
                log.info(
                    "an operator drains this host: finishing current sends, taking no new ones"
                )
                draining = True
                _ask_to_stop(slots)
            elif wish == "run" and draining:
                log.info("an operator resumed this host")
                draining = False
                slots = [launch() for _ in range(processes)]
        if draining:
            for proc in slots:
                if not proc.is_alive() and proc.exitcode is not None:
                    proc.join(timeout=0)
                    _forget_heartbeat(proc.pid)
            stop.wait(0.5)
            continue
        for i, proc in enumerate(slots):
            if stop.is_set():
                break
            if proc.is_alive() and stalled(proc) and proc.pid is not None:
                # Hung, not dead: its lease will expire and the reaper settles its item.
                log.warning(
                    "worker process %s silent for more than %.0f s; replacing it",
                    proc.pid,
                    stall_s,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # with its browser
                proc.join(timeout=5)
            if not proc.is_alive():
                log.warning("worker process %s exited (%s); restarting", proc.pid, proc.exitcode)
                proc.join(timeout=0)
                ticks.pop(proc.pid or 0, None)
                _forget_heartbeat(proc.pid)
                time.sleep(RESTART_BACKOFF_S)
                slots[i] = launch()
        stop.wait(0.5)

    log.info("stopping %d worker processes (each finishes its current job)", len(slots))
    _ask_to_stop(slots)
    deadline = time.monotonic() + get_settings().send_timeout_s + 30
    for proc in slots:
        proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            log.warning("worker process %s did not stop in time; killing it", proc.pid)
            proc.kill()
            proc.join(timeout=5)
    # A process stopped before its own cleanup ran (killed, or signalled while still starting)
    # leaves its heartbeat row: the fleet view must not show it as alive.
    for pid in launched:
        _forget_heartbeat(pid)
    return 0


def _ask_to_stop(slots: Sequence[SpawnProcess]) -> None:
    """SIGTERM once to each live process: RQ's warm shutdown finishes the current job first."""
    for proc in slots:
        if proc.is_alive() and proc.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)


def _forget_heartbeat(pid: int | None) -> None:
    from worker import heartbeat

    if pid is None:
        return
    try:
        heartbeat.forget(heartbeat.worker_id_for(pid))
    except Exception as exc:  # the database is away: the rows age out of the fleet view
        log.warning("could not remove the heartbeat row of %s: %s", pid, exc)
