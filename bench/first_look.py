"""The browser-free first look (worker/first_look.py) over the fixture corpus: how many negative
sites it ends without a browser, and what each costs in CPU.

    .venv/bin/python bench/first_look.py [--rounds 3] [--latency-ms N] [--no-write]

The fixture server runs in a child process, so this process's CPU time (``time.process_time``:
every thread, the first look's event loop and its guard proxy included) is the first look's own.
Each site is looked at ``--rounds`` times after a warm-up (a worker process pays the start-up
once); a site's CPU is the median of its rounds. "Negative" sites are those where no submission
is expected (docs/rules.md#outcomes: skipped, failed). Every outcome the first look reaches is
checked against the site's expected.json; a mismatch is printed and fails the run (exit 1).

Printed, and written to ``bench/results/first_look.json`` (one entry per ``--latency-ms``, so
runs at several latencies sit side by side); the last line is
``first_look: ended=E/N share=S cpu_ms_mean=M cpu_ms_max=X deferred_cpu_ms_mean=D latency_ms=L``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "first_look.json"
TARGET_CPU_MS = 50.0


def _serve(conn: Any, latency_ms: int) -> None:
    """The child: serve the corpus, send the sites, serve until told to stop."""
    from fixtures.server import FixtureServer

    options = {"latency_ms": latency_ms} if latency_ms else {}
    with FixtureServer(generated=0, **options) as server:
        conn.send(
            [
                {
                    "site": site.name,
                    "url": site.url,
                    "expected": site.expected["outcome"]["status"]
                    + (
                        f"/{site.expected['outcome']['reason']}"
                        if site.expected["outcome"].get("reason")
                        else ""
                    ),
                    "negative": not site.submission_expected,
                }
                for site in server.sites
            ]
        )
        conn.recv()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()

    from shared.config import Settings
    from worker.first_look import FirstLook
    from worker.netguard import NetGuard

    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve, args=(child, args.latency_ms), daemon=True
    )
    server.start()
    sites: list[dict[str, Any]] = parent.recv()
    first_look = FirstLook(Settings(allow_private=True), NetGuard())
    try:
        warm = next(s for s in sites if not s["negative"])
        for _ in range(2):
            first_look.look(warm["url"])
        rows = []
        for site in sites:
            cpu: list[float] = []
            wall: list[float] = []
            outcomes = set()
            for _ in range(max(1, args.rounds)):
                c0, w0 = time.process_time(), time.perf_counter()
                result = first_look.look(site["url"])
                cpu.append((time.process_time() - c0) * 1000)
                wall.append((time.perf_counter() - w0) * 1000)
                outcomes.add(
                    None
                    if result.status is None
                    else result.status + (f"/{result.reason}" if result.reason else "")
                )
            rows.append(
                {
                    **{k: site[k] for k in ("site", "expected", "negative")},
                    "ended": sorted(o or "-" for o in outcomes),
                    "cpu_ms": round(statistics.median(cpu), 1),
                    "wall_ms": round(statistics.median(wall), 1),
                }
            )
    finally:
        first_look.close()
        parent.send("stop")
        server.join(timeout=10)

    wrong = [r for r in rows if any(o not in ("-", r["expected"]) for o in r["ended"])]
    unsteady = [r["site"] for r in rows if len(r["ended"]) > 1]
    negatives = [r for r in rows if r["negative"]]
    ended = [r for r in negatives if r["ended"] != ["-"]]
    deferred = [r for r in rows if r["ended"] == ["-"] and r["expected"] != "failed/timeout"]
    cpu_ended = [r["cpu_ms"] for r in ended]
    summary = {
        "latency_ms": args.latency_ms,
        "rounds": args.rounds,
        "sites": len(rows),
        "negative_sites": len(negatives),
        "ended_without_browser": len(ended),
        "share_of_negative": round(len(ended) / max(1, len(negatives)), 3),
        "cpu_ms_per_ended_site": {
            "mean": round(statistics.fmean(cpu_ended), 1) if cpu_ended else None,
            "p50": round(statistics.median(cpu_ended), 1) if cpu_ended else None,
            "max": round(max(cpu_ended), 1) if cpu_ended else None,
            "target": TARGET_CPU_MS,
        },
        # What the first look adds to a send that still goes to the browser.
        "cpu_ms_per_deferred_site_mean": round(statistics.fmean(r["cpu_ms"] for r in deferred), 1)
        if deferred
        else None,
        "wrong_outcomes": [r["site"] for r in wrong],
        "unsteady_sites": unsteady,
        "sites_detail": rows,
    }
    for r in rows:
        mark = "WRONG" if r in wrong else ""
        print(
            f"{r['site']:28} {r['expected']:26} {','.join(r['ended']):26} "
            f"cpu={r['cpu_ms']:6.1f} ms wall={r['wall_ms']:7.1f} ms {mark}"
        )
    if not args.no_write:
        # One entry per latency: the runs at 0, 200 and 500 ms sit side by side.
        runs: dict[str, Any] = {}
        if RESULTS.exists():
            runs = json.loads(RESULTS.read_text(encoding="utf-8")).get("runs", {})
        runs[str(args.latency_ms)] = summary
        ordered = dict(sorted(runs.items(), key=lambda kv: int(kv[0])))
        document = {"bench": "bench/first_look.py", "runs": ordered}
        RESULTS.write_text(
            json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    cpu = summary["cpu_ms_per_ended_site"]
    print(
        f"first_look: ended={len(ended)}/{len(negatives)} share={summary['share_of_negative']} "
        f"cpu_ms_mean={cpu['mean']} cpu_ms_max={cpu['max']} "
        f"deferred_cpu_ms_mean={summary['cpu_ms_per_deferred_site_mean']} "
        f"latency_ms={args.latency_ms}"
    )
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
