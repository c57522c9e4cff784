"""Send throughput: the worker as built against the naive approach, on this machine, in one run.

    .venv/bin/python bench/send_throughput.py [--latency-ms 0,200,500] [--rounds 3]
        [--generated 200] [--procs 2] [--naive-sends 24] [--naive-procs 2]

The fixture server (this process) serves the fixture corpus (every fixture site but the one that
never answers) and N generated prospect sites on loopback, every answer delayed
``--latency-ms`` (``mikomi fixtures serve --latency-ms``: real company websites answer in
hundreds of milliseconds). Each measured configuration runs in a child "runner" process that
becomes the sub-reaper of everything it starts (worker processes, Playwright's node drivers,
every Chromium process), reaps all of it at the end and reports ``getrusage(RUSAGE_CHILDREN)``:
the CPU seconds of the whole sending tree, nothing of the fixture server.

- **built**: ``--procs`` worker processes, each running as many browser slots as the slot
  controller allows (worker/slots.py, worker/slot_pool.py: a thread with its own
  ``worker.engine.Sender`` per slot, adapted to the host's CPU and memory and to how long sends
  take), the browser-free first look where the worker has it, evidence written as the worker
  does.
- **naive**: ``bench.browser_naive.NaiveSender`` in a fixed ``--naive-procs`` processes, one
  send at a time each — Debian's full ``chromium`` launched for every send, ``load`` waits,
  Playwright's default step-by-step actions, the same screenshots — over a sample of the same
  corpus.

Browser memory is the resident memory of the Chromium process trees with pages they share
counted once (the sum of each process's PSS, ``/proc/<pid>/smaps_rollup``), sampled every
2 s; the plain sum of RSS (which counts every shared page once per process) and the node
drivers' memory are reported beside it. Several latencies are measured side by side, in
interleaved rounds (the machine's speed drifts over minutes); each is reported by its median
run and, beside loopback, by its share of the loopback figure of the same round. The last
lines are, one per latency::

    send_throughput: built=X/min naive=Y/min ratio=R latency_ms=N peak_rss_mib=M

Figures go to stdout and ``bench/results/send_throughput.json`` (the last run per latency);
they are never asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import platform
import queue
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "send_throughput.json"
QA_SCRIPT = ROOT / "fixtures" / "scripts" / "qa.json"
PR_SET_CHILD_SUBREAPER = 36
NEGATIVE = ("failed", "skipped")


# --- the runner (a child process per configuration) -------------------------------------------


def _private_allowed() -> None:
    os.environ["MIKOMI_ALLOW_PRIVATE"] = "1"  # the fixture sites are on loopback
    # The built worker is measured with one browser per process (worker/green.py) unless the
    # environment says otherwise.
    os.environ.setdefault("MIKOMI_WORKER_SHARED_BROWSER", "1")


def _send(
    sender: Any, mode: str, job: dict[str, Any], script: Any, root: str
) -> tuple[str, bool, dict[str, int]]:
    """(outcome status, whether it ended without a browser, the send's step timings in ms)."""
    evidence = Path(root) / f"{os.getpid()}-{job['n']}"
    evidence.mkdir(parents=True, exist_ok=True)
    if mode == "naive":
        outcome = sender.send(job["url"], script, job["company"], job["optout"], evidence)
        return str(outcome), False, {}
    result = sender.send(job["url"], script, job["company"], job["optout"], evidence_dir=evidence)
    return result.status, bool(result.evidence.get("first_look")), result.evidence["timings_ms"]


def _naive_worker(jobs: Any, results: Any, ready: Any, go: Any, root: str, gauge: Any) -> None:
    """One send at a time, one full browser launch per send."""
    _private_allowed()
    from bench.browser_naive import NaiveSender

    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    with NaiveSender() as sender:
        ready.release()
        go.wait()
        while (job := jobs.get()) is not None:
            gauge[1] = gauge[0] = 1
            started = time.monotonic()
            try:
                outcome, browserless, steps = _send(sender, "naive", job, script, root)
            except Exception as exc:  # measured, not fatal
                outcome, browserless, steps = f"error:{type(exc).__name__}", False, {}
            gauge[1] = 0
            results.put((job["n"], outcome, browserless, time.monotonic() - started, steps))


def _built_worker(jobs: Any, results: Any, ready: Any, go: Any, root: str, gauge: Any) -> None:
    """The worker's slots: a controller and a pool of slot threads, each with its own engine."""
    _private_allowed()
    from worker import jobs as worker_jobs
    from worker.slot_pool import SlotPool
    from worker.slots import SlotController, limits_from_settings

    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    controller = SlotController(limits_from_settings())

    def report() -> None:
        gauge[0], gauge[1] = controller.slots, controller.busy

    pool = SlotPool(controller, on_exit=worker_jobs.close_sender, on_change=report)
    worker_jobs.warm_up()  # as a worker does when it starts (worker/rq_worker.py)

    def task(job: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            outcome, browserless, steps = _send(
                worker_jobs.get_sender(), "built", job, script, root
            )
        except Exception as exc:  # measured, not fatal
            outcome, browserless, steps = f"error:{type(exc).__name__}", False, {}
        results.put((job["n"], outcome, browserless, time.monotonic() - started, steps))

    ready.release()
    go.wait()
    decisions: dict[str, int] = {}
    while True:
        decision = controller.tick()
        if decision is not None:
            decisions[decision.why] = decisions.get(decision.why, 0) + 1
            pool.shrink()
        report()
        if not pool.wait_for_slot(0.5):
            continue
        try:
            job = jobs.get(timeout=0.5)
        except queue.Empty:
            continue
        if job is None:
            break
        pool.submit(lambda job=job: task(job))
    pool.close()
    worker_jobs.close_host()
    print(f"slot controller of {os.getpid()}: {json.dumps(decisions)}", file=sys.stderr, flush=True)


def _memory_kib() -> dict[str, int]:
    """Memory of the processes below this runner, in KiB: Chromium's PSS and RSS sums, the node
    drivers' PSS, and how many browsers (processes without ``--type=``) there are."""
    me = os.getpid()
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="latin-1") as handle:
                stat = handle.read()
        except OSError:
            continue
        pid = int(entry)
        names[pid] = stat[stat.index("(") + 1 : stat.rindex(")")]
        parents[pid] = int(stat[stat.rindex(")") + 2 :].split()[1])

    def below_me(pid: int) -> bool:
        seen = 0
        while pid > 1 and seen < 64:
            if pid == me:
                return True
            pid = parents.get(pid, 0)
            seen += 1
        return False

    out = {"pss": 0, "rss": 0, "driver_pss": 0, "browsers": 0}
    for pid, name in names.items():
        lowered = name.lower()
        # Crashpad handlers are not the browser; the full chromium leaves one behind per launch.
        is_browser = "chrom" in lowered and "crashpad" not in lowered
        is_driver = lowered.startswith("node")
        if not (is_browser or is_driver) or not below_me(pid):
            continue
        if is_browser:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"--type=" not in handle.read():
                        out["browsers"] += 1  # the browser itself (its helpers carry --type=)
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="latin-1") as handle:
                for line in handle:
                    if line.startswith(("Pss:", "Rss:")):
                        kib = int(line.split()[1])
                        if is_driver:
                            out["driver_pss"] += kib if line.startswith("Pss:") else 0
                        else:
                            out["pss" if line.startswith("Pss:") else "rss"] += kib
        except OSError:
            continue
    return out


def run_config(mode: str, procs: int, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Runner entry point: measure one configuration; returns the figures."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    ctx = mp.get_context("spawn")
    job_queue = ctx.Queue()
    results = ctx.Queue()
    ready = ctx.Semaphore(0)
    go = ctx.Event()
    evidence_root = tempfile.mkdtemp(prefix="mikomi-bench-")
    target = _built_worker if mode == "built" else _naive_worker
    gauges = [ctx.Array("i", 2, lock=False) for _ in range(procs)]  # (slots, busy) each
    workers = [
        ctx.Process(target=target, args=(job_queue, results, ready, go, evidence_root, gauge))
        for gauge in gauges
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    for n, job in enumerate(jobs):
        job_queue.put(job | {"n": n})
    for _ in workers:
        job_queue.put(None)

    samples: list[dict[str, int]] = []
    stop = threading.Event()

    def sample() -> None:
        # Memory every 2 s: reading every Chromium process's smaps_rollup is itself CPU taken
        # from the sends (every 0.5 s it took about a tenth of a core at 30 slots).
        tick = 0
        memory: dict[str, int] = {}
        while not stop.wait(0.5):
            if tick % 4 == 0:
                memory = _memory_kib()
            tick += 1
            slots, busy = sum(g[0] for g in gauges), sum(g[1] for g in gauges)
            samples.append({**memory, "slots": slots, "busy": busy})

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    go.set()
    load_before = os.getloadavg()[0]
    outcomes: dict[str, int] = {}
    latencies = []
    negative = browserless = 0
    step_ms: dict[str, list[int]] = {}
    for _ in jobs:
        _, outcome, without_browser, seconds, steps = results.get()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        latencies.append(seconds)
        for step, ms in steps.items():
            step_ms.setdefault(step, []).append(ms)
        if outcome in NEGATIVE:
            negative += 1
            browserless += bool(without_browser)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    for worker in workers:
        worker.join(timeout=120)
    _reap_everything()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    subprocess.run(["rm", "-rf", evidence_root], check=False)

    def peak(key: str) -> int:
        return max((s[key] for s in samples), default=0)

    busy = [s["busy"] for s in samples] or [0]
    latencies.sort()
    return {
        "mode": mode,
        "processes": procs,
        "sends": len(jobs),
        "outcomes": outcomes,
        "wall_s": round(wall, 2),
        "sends_per_min": round(len(jobs) / wall * 60, 1),
        "cpu_s_total": round(cpu, 1),
        "cpu_s_per_send": round(cpu / len(jobs), 3),
        "slots_in_use_mean": round(sum(busy) / len(busy), 1),
        "slots_in_use_max": max(busy),
        "slots_offered_max": peak("slots"),
        "browser_memory_peak_mib": round(peak("pss") / 1024, 1),
        "browser_rss_sum_peak_mib": round(peak("rss") / 1024, 1),
        "driver_memory_peak_mib": round(peak("driver_pss") / 1024, 1),
        "browsers_seen_at_peak": peak("browsers"),
        # Other work on the machine inflates wall time (and a little CPU): say how busy it was.
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "latency_p50_s": round(latencies[len(latencies) // 2], 2),
        "latency_p95_s": round(latencies[max(0, int(len(latencies) * 0.95) - 1)], 2),
        "negative_sites": negative,
        "negative_without_browser_share": round(browserless / negative, 3) if negative else 0.0,
        # Slots offered and busy (both processes), every 5 s of the run.
        "slots_timeline": [[s["slots"], s["busy"]] for s in samples[::10]],
        # Where a send's time goes: per step of worker/engine.py, the median over the sends
        # that had the step, and how many had it.
        "step_ms_p50": {
            step: [sorted(ms)[len(ms) // 2], len(ms)] for step, ms in sorted(step_ms.items())
        },
    }


def _reap_everything() -> None:
    """Wait for every orphan that was re-parented to this sub-reaper, so its CPU is counted."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


# --- the orchestrating process ----------------------------------------------------------------


def _run_child(mode: str, procs: int, jobs: list[dict[str, Any]]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(jobs, handle, ensure_ascii=False)
        jobs_file = handle.name
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--runner", mode, "--procs", str(procs),
             "--jobs", jobs_file],
            capture_output=True,
            text=True,
            timeout=3600,
        )  # fmt: skip
    finally:
        os.unlink(jobs_file)
    if proc.returncode != 0:
        raise RuntimeError(f"runner {mode}/{procs} failed:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["slot_decisions"] = [
        json.loads(line.split(": ", 1)[1])
        for line in proc.stderr.splitlines()
        if line.startswith("slot controller of ")
    ]
    return figures


def _jobs(sites: list[Any], base: str) -> list[dict[str, Any]]:
    return [
        {
            "url": s.url,
            "company": s.company,
            "optout": f"{base}/optout/bench-{s.name}",
            "site": s.name,
        }
        for s in sites
    ]


def _cpu_since(before: resource.struct_rusage) -> float:
    now = resource.getrusage(resource.RUSAGE_SELF)
    return now.ru_utime + now.ru_stime - before.ru_utime - before.ru_stime


def _row(label: str, built: Any, naive: Any) -> None:
    print(f"{label:32}{built!s:>16}{naive!s:>16}")


def _latencies(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of milliseconds: {text!r}") from None
    if not values or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"not a list of milliseconds: {text!r}")
    return values


def _measure(args: argparse.Namespace, latency_ms: int, with_naive: bool) -> dict[str, Any]:
    """One built run (and the naive one) against a fixture server delayed ``latency_ms``."""
    from fixtures.server import FixtureServer

    with FixtureServer(generated=args.generated, latency_ms=latency_ms) as server:
        # Every fixture site (positive and negative) but the one that never answers, which
        # would only measure the page timeout.
        corpus = [s for s in server.sites if s.config.get("behaviour") != "hang"]
        fixture_sites = [s for s in corpus if not s.generated]
        base = "http://127.0.0.1:8000"
        all_jobs = _jobs(corpus, base)
        print(
            f"corpus: {len(fixture_sites)} fixture sites + {len(corpus) - len(fixture_sites)} "
            f"generated = {len(all_jobs)} sends; every answer delayed {latency_ms} ms; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
            flush=True,
        )
        server.clear()
        before = resource.getrusage(resource.RUSAGE_SELF)
        built = _run_child("built", args.procs, all_jobs)
        built["received_submissions"] = len(server.submissions())
        # The fixture sites run on the same two cores: what they took is not the worker's.
        built["fixture_server_cpu_s"] = round(_cpu_since(before), 1)
        print(f"built  N={args.procs}: {built}", flush=True)
        if not with_naive:
            return {"built": built}

        server.clear()
        # The naive run covers the same mix of sites, fewer of them: it is far slower.
        step = max(1, len(all_jobs) // args.naive_sends)
        naive_jobs = all_jobs[::step][: args.naive_sends]
        before = resource.getrusage(resource.RUSAGE_SELF)
        naive = _run_child("naive", args.naive_procs, naive_jobs)
        naive["received_submissions"] = len(server.submissions())
        naive["fixture_server_cpu_s"] = round(_cpu_since(before), 1)
        print(f"naive  N={args.naive_procs}: {naive}", flush=True)
    return {"built": built, "naive": naive}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--latency-ms",
        type=_latencies,
        default=[0],
        help="delay of every answer; several (0,200,500) are measured side by side",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="built runs per latency, interleaved (0, 500, 0, 500 …); the median is reported",
    )
    parser.add_argument("--generated", type=int, default=200)
    parser.add_argument("--procs", type=int, default=2, help="built: worker processes")
    parser.add_argument("--naive-sends", type=int, default=24)
    parser.add_argument("--naive-procs", type=int, default=2)
    parser.add_argument("--runner", choices=["built", "naive"])
    parser.add_argument("--jobs")
    args = parser.parse_args()

    if args.runner:
        jobs = json.loads(Path(args.jobs).read_text(encoding="utf-8"))
        print(json.dumps(run_config(args.runner, int(args.procs), jobs)))
        return
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    # Interleaved rounds: this machine's speed drifts over minutes (the same run's CPU per
    # send moved by a third within an hour), so each latency is measured in every round and
    # compared with the others of the same round and by the median over rounds.
    latencies: list[int] = list(dict.fromkeys(args.latency_ms))
    built_runs: dict[int, list[dict[str, Any]]] = {lat: [] for lat in latencies}
    naive_runs: dict[int, dict[str, Any]] = {}
    for round_no in range(args.rounds):
        for latency_ms in latencies:
            print(f"round {round_no + 1}/{args.rounds}, {latency_ms} ms", flush=True)
            got = _measure(args, latency_ms, with_naive=round_no == 0)
            built_runs[latency_ms].append(got["built"])
            if "naive" in got:
                naive_runs[latency_ms] = got["naive"]

    document: dict[str, Any] = {}
    if RESULTS.exists():
        try:
            document = json.loads(RESULTS.read_text(encoding="utf-8"))
        except ValueError:
            document = {}
    runs = document.get("runs", {}) if isinstance(document.get("runs"), dict) else {}
    from dataclasses import asdict

    from worker.slots import limits_from_settings

    measured_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    summary: dict[int, tuple[dict[str, Any], dict[str, Any], float]] = {}
    for latency_ms in latencies:
        rounds = sorted(built_runs[latency_ms], key=lambda r: float(r["sends_per_min"]))
        built = rounds[(len(rounds) - 1) // 2]  # the median run (the lower one of two)
        naive = naive_runs[latency_ms]
        ratio = built["sends_per_min"] / naive["sends_per_min"] if naive["sends_per_min"] else 0.0
        summary[latency_ms] = (built, naive, ratio)
        runs[str(latency_ms)] = {
            "latency_ms": latency_ms,
            "measured_at": measured_at,
            "measured_with": latencies,  # the latencies of the same run, side by side
            "slot_limits": asdict(limits_from_settings()),  # MIKOMI_WORKER_* of this run
            "rounds": [
                {
                    k: r[k]
                    for k in (
                        "sends_per_min",
                        "cpu_s_per_send",
                        "slots_in_use_mean",
                        "load_average_1m",
                    )
                }
                for r in built_runs[latency_ms]
            ],  # fmt: skip
            "built": built,
            "naive": naive,
            "throughput_ratio": round(ratio, 2),
        }
    if 0 in summary:
        loopback = [float(r["sends_per_min"]) for r in built_runs[0]]
        for latency_ms in latencies:
            if latency_ms == 0:
                continue
            # Round by round: each latency against the loopback run of the same round.
            shares = [
                float(r["sends_per_min"]) / base
                for r, base in zip(built_runs[latency_ms], loopback, strict=False)
                if base
            ]
            runs[str(latency_ms)]["share_of_loopback"] = {
                "median_runs": round(summary[latency_ms][0]["sends_per_min"]
                                     / summary[0][0]["sends_per_min"], 3),
                "per_round": [round(v, 3) for v in shares],
            }  # fmt: skip
    document = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "targets": {
            "at_500_ms": {"sends_per_min_at_least": 250, "browser_memory_mib_at_most": 3072,
                          "ratio_at_least": 10, "share_of_loopback_at_least": 0.8},
            "at_0_ms": "no slower than before slots (about 310 sends/min on a quiet machine)",
        },
        "runs": dict(sorted(runs.items(), key=lambda kv: int(kv[0]))),
    }  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    for latency_ms in latencies:
        built, naive, ratio = summary[latency_ms]
        print()
        print(f"latency {latency_ms} ms (median of {len(built_runs[latency_ms])} built runs)")
        _row("", "built", "naive")
        for key, label in (
            ("processes", "processes"),
            ("sends", "sends"),
            ("sends_per_min", "sends/min"),
            ("cpu_s_per_send", "CPU-s per send"),
            ("slots_in_use_mean", "slots in use (mean)"),
            ("slots_in_use_max", "slots in use (max)"),
            ("browser_memory_peak_mib", "browser memory peak (MiB)"),
            ("browser_rss_sum_peak_mib", "  (sum of RSS, MiB)"),
            ("driver_memory_peak_mib", "node drivers peak (MiB)"),
            ("latency_p50_s", "send latency p50 (s)"),
            ("latency_p95_s", "send latency p95 (s)"),
            ("negative_without_browser_share", "negative ended w/o browser"),
            ("fixture_server_cpu_s", "fixture sites' CPU-s (same host)"),
            ("load_average_1m", "load average (1 min)"),
        ):
            _row(label, built[key], naive[key])
        print(
            f"outcomes built {json.dumps(built['outcomes'])}  naive {json.dumps(naive['outcomes'])}"
        )
        rounds_text = ", ".join(str(r["sends_per_min"]) for r in built_runs[latency_ms])
        print(f"built sends/min by round: {rounds_text}")
        share = runs[str(latency_ms)].get("share_of_loopback")
        if share:
            print(f"share of the loopback figure: {share['median_runs']} (by round: "
                  f"{', '.join(str(v) for v in share['per_round'])})")  # fmt: skip
    print(f"results in {RESULTS.relative_to(ROOT)}")
    for latency_ms in latencies:
        built, naive, ratio = summary[latency_ms]
        print(
            f"send_throughput: built={built['sends_per_min']}/min "
            f"naive={naive['sends_per_min']}/min ratio={ratio:.1f} latency_ms={latency_ms} "
            f"peak_rss_mib={built['browser_memory_peak_mib']:.0f}"
        )


if __name__ == "__main__":
    main()
