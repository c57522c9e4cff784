"""The slot controller's decisions (worker/slots.py): additive increase while every slot is busy
and the host has CPU and memory to spare, multiplicative decrease when it has not."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from worker.slots import Decision, HostSampler, Reading, SlotController, SlotLimits, decide

LIMITS = SlotLimits(min_slots=2, max_slots=10, cpu_busy=0.9, cpu_idle=0.7,
                    memory_reserve_mib=500, slot_mib=150, latency_ratio=2, decrease=0.5)  # fmt: skip
ROOMY = 4000.0


def reading(
    cpu: float = 0.3, memory: float = ROOMY, busy: int = 4, finished: int = 10, **kw: float
) -> Reading:
    return Reading(cpu=cpu, memory_available_mib=memory, busy=busy, finished=finished, **kw)


def test_more_slots_when_all_are_busy_and_the_cpu_waits_on_the_network() -> None:
    # 30 % CPU with 4 slots: room for about 4 × 0.7 / 0.3 ≈ 9; half the way there.
    decision = decide(4, reading(cpu=0.3, busy=4), LIMITS)
    assert decision.slots == 6 and "cpu idle" in decision.why
    # Near the CPU's idle mark one at a time, and never more than half as many again.
    assert decide(8, reading(cpu=0.65, busy=8), LIMITS).slots == 9
    assert decide(4, reading(cpu=0.05, busy=4), LIMITS).slots == 6


def test_slow_start_grows_by_half_within_the_memory_room() -> None:
    assert decide(4, reading(busy=4), LIMITS, slow_start=True) == Decision(6, "slow start")
    # Sends lengthening past 1.25× their baseline: one at a time already.
    lengthening = reading(busy=4, latency_s=5.5, best_latency_s=4.0)
    assert decide(4, lengthening, LIMITS, slow_start=True).slots == 5
    # 800 MiB free, 500 reserved: room for two more 150 MiB browsers, not three.
    assert decide(6, reading(busy=6, memory=800), LIMITS, slow_start=True).slots == 8


def test_no_more_slots_before_sends_show_what_the_last_change_did() -> None:
    assert decide(8, reading(busy=8, finished=3), LIMITS).why == "waiting for sends to finish"
    assert decide(8, reading(cpu=0.65, busy=8, finished=4), LIMITS).slots == 9


def test_the_slow_start_does_not_wait_for_sends_while_the_cpu_is_far_from_its_mark() -> None:
    # 6 slots instead of 4 would take 0.3 × 6/4 = 0.45 of the CPU, under the idle mark (0.7
    # here), judged on this interval and the one before: grow on.
    quiet = reading(cpu=0.2, busy=4, finished=0, cpu_before=0.3)
    assert decide(4, quiet, LIMITS, slow_start=True) == Decision(6, "slow start")
    # Not after the slow start, nor when either interval would pass the mark (0.5 × 6/4).
    assert decide(4, quiet, LIMITS).why == "waiting for sends to finish"
    warmer = reading(cpu=0.2, busy=4, finished=0, cpu_before=0.5)
    assert decide(4, warmer, LIMITS, slow_start=True).why == "waiting for sends to finish"
    assert decide(4, reading(cpu=0.45, busy=4, finished=0), LIMITS, slow_start=True).why == (
        "slow start"
    )


def test_the_slow_start_takes_the_part_of_its_step_that_stays_under_the_mark() -> None:
    wide = SlotLimits(max_slots=60, cpu_busy=0.9, cpu_idle=0.7, memory_reserve_mib=500)
    # 20 slots at 0.5 of the CPU, 0.6 the interval before: the step the CPU has room for (7)
    # would take 0.6 × 27 / 20 = 0.81, over the idle mark (0.7); 20 × 0.7 / 0.6 = 23 fit,
    # one short: 22, without waiting for sends.
    near = reading(cpu=0.5, busy=20, finished=0, cpu_before=0.6)
    assert decide(20, near, wide, slow_start=True) == Decision(22, "slow start")
    assert decide(20, near, wide).why == "waiting for sends to finish"  # not after it
    # Nothing fits (one slot short of the mark is no slot): wait for sends.
    assert decide(20, reading(cpu=0.68, busy=20, finished=0), wide, slow_start=True).why == (
        "waiting for sends to finish"
    )


def test_the_slow_start_decides_every_half_interval(tmp_path: Path) -> None:
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0.4)
    controller.started()
    controller.started()
    proc.advance(0.1)
    time.sleep(0.25)
    decision = controller.tick()
    assert decision is not None and decision.slots == 3
    controller.slow_start = False  # (the CPU or memory said enough)
    time.sleep(0.25)
    assert controller.tick() is not None  # the interval set under the slow start: half
    time.sleep(0.25)
    assert controller.tick() is None  # after it, the whole interval
    time.sleep(0.2)
    assert controller.tick() is not None


def test_the_first_interval_starts_with_the_first_send(tmp_path: Path) -> None:
    """The browser starting up (and the other processes starting theirs) takes the CPU before
    any send: that reading must not hold the slow start back until sends finish."""
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0.4)
    proc.advance(1.0)  # the start-up: the whole CPU
    time.sleep(0.25)
    controller.started()
    controller.started()
    proc.advance(0.1)  # the first sends wait on the network
    time.sleep(0.25)
    decision = controller.tick()
    assert decision is not None and decision.slots == 3, decision
    assert controller.tick() is None  # the interval runs from the first send


def test_only_sends_started_under_the_current_count_tell_what_it_did(tmp_path: Path) -> None:
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0)
    controller.slow_start = False  # (the slow start does not wait on a quiet CPU)
    before = time.monotonic() - 60  # started before the controller's last change
    controller.started()
    controller.started()
    controller.finished(60.0, started_at=before)
    controller.started()
    proc.advance(0.3)
    assert controller.tick() == Decision(2, "waiting for sends to finish")
    controller.finished(1.0, started_at=time.monotonic())
    controller.started()
    proc.advance(0.3)
    assert controller.tick() == Decision(3, "all slots busy, cpu idle")


def test_no_more_slots_while_some_are_free() -> None:
    assert decide(4, reading(busy=3), LIMITS).slots == 4


def test_no_more_slots_once_the_cpu_is_busy_enough() -> None:
    assert decide(4, reading(cpu=0.8), LIMITS).slots == 4


@pytest.mark.parametrize(("cpu", "memory"), [(0.95, ROOMY), (0.3, 400.0)])
def test_halved_when_the_cpu_saturates_or_memory_runs_short(cpu: float, memory: float) -> None:
    assert decide(8, reading(cpu=cpu, memory=memory, busy=8), LIMITS).slots == 4


def test_one_saturated_interval_is_a_burst_two_are_a_cut() -> None:
    burst = decide(8, reading(cpu=0.95, busy=8, cpu_before=0.6), LIMITS)
    assert burst == Decision(8, "cpu busy enough")
    assert decide(8, reading(cpu=0.95, busy=8, cpu_before=0.93), LIMITS).slots == 4


def test_a_cut_for_the_cpu_waits_for_sends_under_the_count_it_left() -> None:
    # Just cut to 8: the sends still out from before keep the CPU saturated for a send's
    # length, and say nothing about 8 slots yet.
    after_cut = reading(cpu=0.97, busy=8, finished=3, cpu_before=0.96)
    assert decide(8, after_cut, LIMITS) == Decision(8, "waiting for sends to finish")
    # Half of 8 sends started under the new count have finished: still saturated, cut again.
    assert decide(8, reading(cpu=0.97, busy=8, finished=4, cpu_before=0.96), LIMITS).slots == 4
    # Memory short is never waited for.
    short = reading(cpu=0.97, memory=400, busy=8, finished=0, cpu_before=0.96)
    assert decide(8, short, LIMITS) == Decision(4, "memory short")


def test_never_below_the_minimum_nor_above_the_maximum() -> None:
    assert decide(3, reading(cpu=1.0), LIMITS).slots == LIMITS.min_slots
    assert decide(10, reading(busy=10), LIMITS).slots == LIMITS.max_slots
    assert decide(30, reading(busy=1), LIMITS).slots == LIMITS.max_slots


def test_no_slot_without_memory_for_its_browser() -> None:
    # 600 MiB free: above the 500 reserve, but not with another 150 MiB browser.
    assert decide(4, reading(memory=600), LIMITS).slots == 4


def test_slow_sites_are_no_reason_but_sends_slower_than_with_fewer_slots_are() -> None:
    # Every site answers slowly: sends take 4 s with one slot and with four. More slots.
    assert decide(4, reading(latency_s=4.0, best_latency_s=4.0), LIMITS).slots == 6
    # Sends take twice as long as they did with fewer slots: the slots fight over the host's
    # CPU, even when the CPU reading says little (it counts every core, and other work).
    slowed = decide(4, reading(cpu=0.3, latency_s=8.5, best_latency_s=4.0), LIMITS)
    assert slowed == Decision(2, "sends slowed down")
    # Once per change: not again before sends that started under the last count finished.
    again = reading(cpu=0.3, latency_s=8.5, best_latency_s=4.0, finished=0)
    assert decide(2, again, LIMITS) == Decision(2, "waiting for sends to finish")


class _FakeProc:
    """A /proc with a stat and meminfo the test writes: 100 jiffies per interval."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        self.busy = self.total = 0
        self.advance(0.0)

    def advance(self, cpu_share: float) -> None:
        self.total += 100
        self.busy += round(cpu_share * 100)
        idle = self.total - self.busy
        (self.root / "stat").write_text(f"cpu  {self.busy} 0 0 {idle} 0 0 0 0 0 0\n")
        (self.root / "meminfo").write_text(f"MemAvailable: {int(ROOMY * 1024)} kB\n")


def test_the_controller_grows_with_demand_up_to_the_cpu_and_cuts_on_saturation(
    tmp_path: Path,
) -> None:
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0)
    seen = []
    for _ in range(10):
        while controller.busy < controller.slots:  # work waits: every slot gets taken
            controller.started()
        for _ in range(controller.slots):  # and as many sends finish (and start again)
            controller.finished(1.0)
            controller.started()
        proc.advance(0.1 * controller.slots)  # each busy slot costs a tenth of the CPU
        decision = controller.tick()
        assert decision is not None
        seen.append(decision.slots)
    # Half as many again from the minimum (2) while the CPU is far from its idle mark, then
    # as many as it has room for, at least one, until it says enough (8 slots: 0.8, over
    # cpu_idle), then held: 0.8 is under cpu_busy.
    assert seen == [3, 5, 6, 7, 8, 8, 8, 8, 8, 8]
    assert not controller.slow_start
    proc.advance(1.0)  # something else takes the CPU: a burst, held
    assert controller.tick() == Decision(8, "cpu busy enough")
    proc.advance(1.0)  # and keeps it: cut
    assert controller.tick() == Decision(4, "cpu saturated")
    while controller.busy < controller.slots:
        controller.started()
    for _ in range(4):
        controller.finished(1.0)
        controller.started()
    proc.advance(0.3)  # it is gone: more in proportion to the CPU left, no second slow start
    assert controller.tick() == Decision(6, "all slots busy, cpu idle")


def test_latency_is_the_median_of_recent_sends_against_the_best_seen(tmp_path: Path) -> None:
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0)
    for seconds in (1.0, 1.2, 0.9):
        controller.started()
        controller.finished(seconds)
    proc.advance(0.8)
    assert controller.tick() is not None
    for seconds in (5.0, 6.0, 7.0, 8.0):  # sends now take far longer, with the CPU busy
        controller.started()
        controller.finished(seconds)
    proc.advance(0.8)
    assert controller.tick() == Decision(LIMITS.min_slots, "sends slowed down")


def test_the_baseline_is_forgotten_slowly(tmp_path: Path) -> None:
    proc = _FakeProc(tmp_path / "proc")
    controller = SlotController(LIMITS, HostSampler(proc.root), every_s=0)
    for seconds in (0.1, 0.1, 0.1):  # a run of prospects ended at once
        controller.started()
        controller.finished(seconds)
    proc.advance(0.3)
    controller.tick()
    for seconds in [4.0] * 20:  # then real sends, every one as slow as the sites make it
        controller.started()
        controller.finished(seconds)
    whys = []
    for _ in range(200):
        proc.advance(0.3)
        decision = controller.tick()
        assert decision is not None
        whys.append(decision.why)
    assert whys[0] == "sends slowed down"
    assert whys[-1] != "sends slowed down"
