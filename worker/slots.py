"""How many sends a worker process runs at once: its browser slots, set by a measured controller.

A send mostly waits: on loopback a page answers in a millisecond and the CPU is the limit, but
real company websites take hundreds of milliseconds to seconds per request, and then a worker
with a fixed handful of slots leaves the CPU idle. So each worker process runs as many slots as
the host allows and adapts every :data:`CONTROL_EVERY_S` (additive increase, multiplicative
decrease, docs/architecture.md#browser-slots):

- **fewer** (× :attr:`SlotLimits.decrease`) when the host's CPU was saturated two intervals
  in a row (one busy interval is a burst of page loads, and cutting then only loses
  throughput for the time it takes to grow back), when its free
  memory falls under the reserve, or when sends take twice as long as they did with fewer
  slots (delay-based, as TCP Vegas: a send that waits on the network takes as long with ten
  slots as with one; when it takes longer, the slots are fighting over this host's CPU,
  whoever else uses it);
- **more** when every slot is busy (there is work waiting), the CPU is idle enough and the
  memory has room for another browser: in proportion to the CPU left (a send's CPU is the
  same whatever the count, so a host at 45 % with 10 slots has room for about 20; half of
  that step is taken, at least one slot) — or, until the first time the CPU or memory said
  enough, half as many again (a slow start, as TCP's: a worker on slow sites needs tens of
  slots, and one more every two seconds would take minutes to get there; it decides every
  second and takes what stays under the CPU's idle mark without waiting for sends);
- otherwise the same. Always within ``MIKOMI_WORKER_MIN_SLOTS`` … ``MIKOMI_WORKER_MAX_SLOTS``.

:func:`decide` is the whole policy, a pure function tested on its own; :class:`HostSampler`
reads the host's CPU and memory from ``/proc``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from shared.config import Settings, get_settings

CONTROL_EVERY_S = 2.0
# Send durations kept for the latency signal (the median of the last ones).
LATENCY_WINDOW = 20
# The baseline (the lowest median seen) rises this much per interval, so a run of unusually
# quick sends (prospects the first look ends at once) does not hold the count down for ever.
BASELINE_FORGET = 1.02
# Sends this many times their baseline end the slow start's growth by half.
SLOW_START_UNTIL = 1.25


@dataclass(frozen=True)
class SlotLimits:
    """The controller's bounds and thresholds (settings, docs/operations.md#settings)."""

    min_slots: int = 1
    max_slots: int = 16
    # Host CPU shares: above cpu_busy slots are cut; above cpu_idle none is added. 1.0 takes
    # the CPU out of the decision (a host whose CPU is busy with other work anyway).
    cpu_busy: float = 0.98
    cpu_idle: float = 0.90
    memory_reserve_mib: float = 512.0  # host memory always left free
    slot_mib: float = 150.0  # what one more slot (its browser) is expected to take
    latency_ratio: float = 2.0  # sends this many times slower than the baseline: too many
    decrease: float = 0.7

    def clamp(self, slots: int) -> int:
        return max(self.min_slots, min(self.max_slots, slots))


@dataclass(frozen=True)
class Reading:
    """What the host and the process looked like over the last control interval."""

    cpu: float  # host CPU utilisation, 0..1, since the last reading
    memory_available_mib: float
    busy: int  # slots that were busy at the most during the interval
    finished: int = 0  # sends started since the count last changed and finished
    latency_s: float | None = None  # median duration of the recent sends
    best_latency_s: float | None = None  # the baseline: the lowest such median, slowly forgotten
    cpu_before: float | None = None  # the interval before (None: unknown, taken as the same)


@dataclass(frozen=True)
class Decision:
    slots: int
    why: str


def decide(
    slots: int, reading: Reading, limits: SlotLimits, *, slow_start: bool = False
) -> Decision:
    """The number of slots for the next interval, and why (for the log and the tests)."""

    def cut(why: str) -> Decision:
        return Decision(limits.clamp(math.floor(slots * limits.decrease)), why)

    if reading.memory_available_mib < limits.memory_reserve_mib:
        return cut("memory short")
    before = reading.cpu if reading.cpu_before is None else reading.cpu_before
    # Once per change, as TCP cuts once per round trip: sends that started before the last
    # change say nothing about the count it left. Cutting again on them took a worker from
    # 18 slots to 8 in two seconds, and back up took half a minute.
    seen = reading.finished >= max(1, slots // 2)
    if min(reading.cpu, before) > limits.cpu_busy:
        return cut("cpu saturated") if seen else Decision(slots, "waiting for sends to finish")
    slowed = (
        reading.latency_s is not None
        and reading.best_latency_s is not None
        and reading.latency_s > limits.latency_ratio * reading.best_latency_s
    )
    if slowed:
        return cut("sends slowed down") if seen else Decision(slots, "waiting for sends to finish")
    if slots < limits.min_slots or slots > limits.max_slots:
        return Decision(limits.clamp(slots), "out of bounds")
    if reading.busy < slots:
        return Decision(slots, "slots free")
    # A send's CPU is the same whatever the count, so the host's CPU grows with the slots:
    # ``slots × cpu_idle / cpu`` is the count the CPU has room for.
    towards_mark = math.floor(slots * (limits.cpu_idle / max(reading.cpu, 0.05) - 1))
    step = max(1, min(math.ceil(slots / 2), towards_mark))
    # During the slow start, a host whose CPU stays under the idle mark with that step taken,
    # judged on the busier of this interval and the one before, is plainly not near its limit
    # yet: growing on without waiting costs only memory, which the room below bounds. On slow
    # sites a send takes seconds, and waiting for half the slots' sends at every step made
    # the ramp to tens of slots take a third of a minute at 500 ms a page; an overshoot is
    # cut as any saturation is.
    busier = max(reading.cpu, before)
    quiet = slow_start and busier * (slots + step) / max(1, slots) < limits.cpu_idle
    if slow_start and not quiet and not seen:
        # The whole step would pass the mark: take the part that stays under it (one slot
        # short, for the lag of sends that have not reached their browser yet) instead of
        # waiting seconds for sends at every step of the ramp's last third.
        fits = math.floor(slots * limits.cpu_idle / max(busier, 0.05)) - slots - 1
        if fits >= 1:
            step, quiet = min(step, fits), True
    if not seen and not quiet:
        # The last change has not been seen yet in how long sends take (too few sends that
        # started under it have finished): growing on would be blind, and browsers starting
        # up take CPU themselves.
        return Decision(slots, "waiting for sends to finish")
    if reading.cpu > limits.cpu_idle:
        return Decision(slots, "cpu busy enough")
    room = int(
        (reading.memory_available_mib - limits.memory_reserve_mib) // max(1, limits.slot_mib)
    )
    if room < 1:
        return Decision(slots, "no memory for another slot")
    # Slow start only while sends take as long as their baseline: once they lengthen, the
    # host is near what it can do and the count creeps up one at a time.
    fast = (
        reading.latency_s is None
        or reading.best_latency_s is None
        or reading.latency_s <= SLOW_START_UNTIL * reading.best_latency_s
    )
    if not fast:
        more, why = 1, "all slots busy, cpu idle"
    elif slow_start:
        more = step
        why = "slow start" if more > 1 else "all slots busy, cpu idle"
    else:
        # In proportion to the CPU left, up to half as many again.
        more, why = step, "all slots busy, cpu idle"
    return Decision(limits.clamp(slots + min(more, room)), why)


def limits_from_settings(settings: Settings | None = None) -> SlotLimits:
    settings = settings or get_settings()
    low = settings.worker_min_slots
    return SlotLimits(
        min_slots=low,
        max_slots=max(low, settings.worker_max_slots),
        cpu_busy=settings.worker_cpu_busy,
        cpu_idle=min(settings.worker_cpu_idle, settings.worker_cpu_busy),
        memory_reserve_mib=settings.worker_memory_reserve_mib,
        slot_mib=settings.worker_slot_mib,
    )


# Holds that mean the host is near its limit: the slow start ends there.
_ENOUGH = frozenset({"cpu busy enough", "no memory for another slot"})


class HostSampler:
    """The host's CPU utilisation between two calls, and its available memory (``/proc``)."""

    def __init__(self, proc: Path = Path("/proc")) -> None:
        self.proc = proc
        self._last = self._cpu_times()

    def _cpu_times(self) -> tuple[int, int]:
        """(busy, total) jiffies of all CPUs since boot."""
        first = (self.proc / "stat").read_text(encoding="ascii").splitlines()[0]
        values = [int(v) for v in first.split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        total = sum(values[:8])  # guest time is already inside user time
        return total - idle, total

    def cpu(self) -> float:
        busy, total = self._cpu_times()
        last_busy, last_total = self._last
        self._last = (busy, total)
        if total <= last_total:
            return 0.0
        return max(0.0, min(1.0, (busy - last_busy) / (total - last_total)))

    def memory_available_mib(self) -> float:
        for line in (self.proc / "meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
        return float("inf")


class SlotController:
    """The live state around :func:`decide`: busy slots, recent send durations, the count.

    Thread-safe: slot threads report :meth:`started`/:meth:`finished`; the worker's loop calls
    :meth:`tick`, which decides at most every :data:`CONTROL_EVERY_S`.
    """

    def __init__(
        self,
        limits: SlotLimits,
        sampler: HostSampler | None = None,
        every_s: float = CONTROL_EVERY_S,
    ) -> None:
        self.limits = limits
        self.sampler = sampler or HostSampler()
        self.every_s = every_s
        self.slots = limits.min_slots
        self.busy = 0
        self.last = Decision(self.slots, "start")
        self.slow_start = True  # until the CPU or the memory first says enough
        self._peak_busy = 0
        self._finished = 0
        self._changed_at = time.monotonic()
        self._durations: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._best_latency: float | None = None
        self._cpu_before: float | None = None
        self._next = time.monotonic() + self._interval()
        self._lock = threading.Lock()
        self._begun = False

    def _begin(self) -> None:
        """The first send: the first interval starts here. What the host did before (the
        browser starting up, other processes starting theirs) says nothing about sends, and a
        reading of it held the slow start back for seconds."""
        self._begun = True
        self.sampler.cpu()
        self._cpu_before = None
        self._peak_busy = 0
        self._changed_at = time.monotonic()
        self._next = self._changed_at + self._interval()

    def _interval(self) -> float:
        """Seconds to the next decision. During the slow start, half: growing by half every
        2 s took a worker 14 s from one slot to 27, a quarter of a one-minute batch at 500 ms a
        page."""
        return self.every_s / 2 if self.slow_start else self.every_s

    def started(self) -> None:
        with self._lock:
            if not self._begun:
                self._begin()
            self.busy += 1
            self._peak_busy = max(self._peak_busy, self.busy)

    def finished(self, seconds: float, started_at: float | None = None) -> None:
        """A send ended after ``seconds``; ``started_at`` (monotonic) says whether it ran under
        the current count, and so tells what the last change did."""
        with self._lock:
            self.busy -= 1
            if started_at is None or started_at >= self._changed_at:
                self._finished += 1
            self._durations.append(seconds)

    def has_free_slot(self) -> bool:
        with self._lock:
            return self.busy < self.slots

    def tick(self) -> Decision | None:
        """Decide again if the interval is over; the decision, or None when it is not time."""
        now = time.monotonic()
        if now < self._next:
            return None
        self._next = now + self._interval()
        cpu = self.sampler.cpu()
        memory = self.sampler.memory_available_mib()
        with self._lock:
            latency = median(self._durations) if len(self._durations) >= 3 else None
            if self._best_latency is not None:
                self._best_latency *= BASELINE_FORGET
            if latency is not None and (self._best_latency is None or latency < self._best_latency):
                self._best_latency = latency
            reading = Reading(
                cpu,
                memory,
                self._peak_busy,
                self._finished,
                latency,
                self._best_latency,
                cpu_before=self._cpu_before,
            )
            self._cpu_before = cpu
            self._peak_busy = self.busy
            self.last = decide(self.slots, reading, self.limits, slow_start=self.slow_start)
            if self.last.slots < self.slots or self.last.why in _ENOUGH:
                self.slow_start = False
            if self.last.slots != self.slots:
                self._finished = 0
                self._changed_at = now
            self.slots = self.last.slots
        return self.last
