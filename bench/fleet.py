"""Fleet benchmark (``make bench``): figures go to bench/results/fleet.json, never into tests.

Measures, on this machine, with real parts (database, Redis, RQ worker processes, Chromium,
the fixture server's generated sites, a coordinator under uvicorn):

* end-to-end sends per minute with 1, 2 and 4 worker processes (Chromium, a 300-item
  reservation run to completion), and a 3,000-item reservation run to completion with the
  largest process count (each run bounded by ``FLEET_BENCH_SECONDS``; a run stopped by that
  bound says ``finished: false``);
* the fleet path alone at 300 and 3,000 items: the same dispatcher, RQ workers and database
  transactions, with a null engine that submits nothing (the "lighter path": what the fleet
  costs per item without a browser);
* dispatch overhead per item (claim transaction + enqueue) at 300 and 3,000 queued items;
* live-count latency, commit → SSE client, p50/p95, at 300 and 3,000 items.

Environment: FLEET_BENCH_DB=postgresql|sqlite (default postgresql, falls back to sqlite),
FLEET_BENCH_SECONDS (default 1800), FLEET_BENCH_PROCESSES (default "1,2,4"),
FLEET_BENCH_LARGE (default 3000: the items of the large end-to-end run; 0 skips it).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "fleet.json"


@dataclass
class NullResult:
    status: str
    reason: str | None = None
    contact_url: str | None = None
    final_url: str | None = None
    fields: list[Any] = field(default_factory=list)
    elapsed_ms: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    submitted: bool = False


class NullSender:
    """The fleet's benchmark engine: asks before_submit and reports sent, submitting nothing."""

    def __enter__(self) -> NullSender:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, url: str, script: Any, company: str, optout_url: str, **kw: Any) -> NullResult:
        before = kw.get("before_submit")
        if before is not None and not before():
            return NullResult("cancelled")
        return NullResult("sent", final_url=url, submitted=True)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _db_kind() -> str:
    wanted = os.environ.get("FLEET_BENCH_DB", "postgresql")
    if wanted == "postgresql":
        try:
            from sqlalchemy import create_engine, text

            from tests.support.databases import PG_ADMIN_URL

            with create_engine(PG_ADMIN_URL).connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception:
            return "sqlite"
    return wanted


def _fleet(kind: str, generated: int, extra_env: dict[str, str] | None = None) -> Any:
    from tests.support.fleet import Fleet

    # Redis database 9: never one the tests use (10 and up).
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    fleet = Fleet(tmp, kind=kind, generated=generated, redis_db=9)
    return fleet.start(extra_env=extra_env)


def bench_dispatch_and_latency(kind: str, n: int) -> dict[str, Any]:
    """Claim+enqueue cost per item and commit→SSE latency, driving outcomes in-process."""
    from coordinator.fleet.dispatcher import enqueue, get_queue
    from shared import items
    from tests.support.live import Coordinator, SseClient, api_token

    fleet = _fleet(kind, n)
    try:
        rid = fleet.reservation(prospects=n, count=n, senders=50, tickets=n)
        token = api_token(fleet)
        queue = get_queue(fleet.redis)
        claim_s: list[float] = []
        enqueue_s: list[float] = []
        outcome_s: list[float] = []
        latencies: list[float] = []
        step = max(1, n // 100)
        done = 0
        with Coordinator() as coordinator:
            client = SseClient(f"{coordinator.base}/api/v1/reservations/{rid}/events", token)
            client.start()
            client.next(timeout=30)
            while True:
                t0 = time.perf_counter()
                with fleet.session() as db:
                    claimed = items.claim(db, rid, 50)
                t1 = time.perf_counter()
                if not claimed:
                    break
                for item_id, attempt in claimed:
                    enqueue(queue, item_id, attempt)
                t2 = time.perf_counter()
                claim_s.append(t1 - t0)
                enqueue_s.append(t2 - t1)
                for item_id, attempt in claimed:
                    s0 = time.perf_counter()
                    with fleet.session() as db:
                        items.start(db, item_id, attempt, "bench")
                    with fleet.session() as db:
                        items.enter_submitting(db, item_id, attempt)
                    with fleet.session() as db:
                        items.record_outcome(db, item_id, attempt, NullResult("sent"))
                    committed = time.monotonic()
                    outcome_s.append(time.perf_counter() - s0)
                    done += 1
                    if done % step == 0:
                        try:
                            at, _ = client.wait_for(lambda d, k=done: d["sent"] >= k, timeout=5)
                            latencies.append(at - committed)
                        except Exception:
                            pass
            client.close()
        queue.empty()
        total_dispatch = sum(claim_s) + sum(enqueue_s)
        return {
            "items": n,
            "db": kind,
            "dispatch_ms_per_item": round(1000 * total_dispatch / max(1, done), 3),
            "claim_ms_per_item": round(1000 * sum(claim_s) / max(1, done), 3),
            "enqueue_ms_per_item": round(1000 * sum(enqueue_s) / max(1, done), 3),
            "outcome_path_ms_per_item": round(1000 * statistics.mean(outcome_s), 2),
            "sse_latency_ms_p50": round(1000 * _pct(latencies, 0.5), 1),
            "sse_latency_ms_p95": round(1000 * _pct(latencies, 0.95), 1),
            "sse_samples": len(latencies),
        }
    finally:
        fleet.stop()


def bench_throughput(
    kind: str, n: int, processes: int, budget_s: float, null_engine: bool
) -> dict[str, Any]:
    """Sends per minute through dispatcher → RQ → worker processes → database."""
    extra = {"PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}"}
    if null_engine:
        extra["MIKOMI_SENDER_FACTORY"] = "fleet:NullSender"
    fleet = _fleet(kind, n, extra_env=extra)
    try:
        rid = fleet.reservation(
            prospects=n, count=max(300, n), senders=processes, tickets=max(1000, n)
        )
        fleet.start_workers(processes)
        fleet.wait_for_workers(processes, timeout=120)
        fleet.start_dispatcher()
        started = time.monotonic()
        first_sent_at: float | None = None
        sent = 0
        while time.monotonic() - started < budget_s:
            seen = fleet.observe(rid)
            sent = seen.counters["sent"]
            if sent and first_sent_at is None:
                first_sent_at = time.monotonic()
            if seen.status != "approved":
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        seen = fleet.observe(rid)
        received = fleet.submissions_by_host()
        return {
            "engine": "null" if null_engine else "chromium",
            "items": n,
            "db": kind,
            "processes": processes,
            "sent": seen.counters["sent"],
            "failed": seen.counters["failed"],
            "skipped": seen.counters["skipped"],
            "elapsed_s": round(elapsed, 1),
            "sends_per_minute": round(60 * seen.counters["sent"] / elapsed, 1),
            "max_submissions_per_site": max(received.values()) if received else 0,
            "finished": seen.status != "approved",
            "status": seen.status,
            "counters_add_up": seen.add_up(),
        }
    finally:
        fleet.stop()


def main() -> int:
    if len(sys.argv) > 1:  # no options: everything is set by the environment (see above)
        print(__doc__)
        return 0 if sys.argv[1] in ("-h", "--help") else 2
    kind = _db_kind()
    budget = float(os.environ.get("FLEET_BENCH_SECONDS", "1800"))
    large = int(os.environ.get("FLEET_BENCH_LARGE", "3000"))
    procs = [int(p) for p in os.environ.get("FLEET_BENCH_PROCESSES", "1,2,4").split(",") if p]
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()},
        "db": kind,
        "dispatch_and_latency": [],
        "throughput": [],
    }
    for n in (300, 3000):
        print(f"dispatch + SSE latency, {n} items …", flush=True)
        results["dispatch_and_latency"].append(bench_dispatch_and_latency(kind, n))
    for n in (300, 3000):
        print(f"fleet path (null engine), {n} items, 4 processes …", flush=True)
        results["throughput"].append(bench_throughput(kind, n, 4, budget, null_engine=True))
    for p in procs:
        print(f"end to end (Chromium), 300 items, {p} processes …", flush=True)
        results["throughput"].append(bench_throughput(kind, 300, p, budget, null_engine=False))
        print(f"  {results['throughput'][-1]}", flush=True)
    if large and procs:
        print(f"end to end (Chromium), {large} items, {max(procs)} processes …", flush=True)
        results["throughput"].append(
            bench_throughput(kind, large, max(procs), budget, null_engine=False)
        )
        print(f"  {results['throughput'][-1]}", flush=True)
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", "utf-8")

    print(
        f"\nfleet benchmark ({kind}; {os.cpu_count()} CPUs; load {results['machine']['load_avg_at_start'][0]:.1f})"
    )
    print(
        f"{'items':>6} {'dispatch ms/item':>17} {'claim':>7} {'enqueue':>8} {'outcome ms':>11} {'SSE p50 ms':>11} {'p95 ms':>8}"
    )
    for r in results["dispatch_and_latency"]:
        print(
            f"{r['items']:>6} {r['dispatch_ms_per_item']:>17} {r['claim_ms_per_item']:>7} "
            f"{r['enqueue_ms_per_item']:>8} {r['outcome_path_ms_per_item']:>11} "
            f"{r['sse_latency_ms_p50']:>11} {r['sse_latency_ms_p95']:>8}"
        )
    print(
        f"\n{'engine':>8} {'items':>6} {'procs':>6} {'sent':>6} {'secs':>7} {'sends/min':>10} {'dup':>4} {'done':>5}"
    )
    for r in results["throughput"]:
        print(
            f"{r['engine']:>8} {r['items']:>6} {r['processes']:>6} {r['sent']:>6} "
            f"{r['elapsed_s']:>7} {r['sends_per_minute']:>10} {r['max_submissions_per_site']:>4} "
            f"{'yes' if r['finished'] else 'no':>5}"
        )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
