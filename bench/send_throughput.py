"""Send throughput: the worker as built against the naive approach, on this machine, in one run.

    .venv/bin/python bench/send_throughput.py [--generated 200] [--naive-sends 24] [--procs 2,3,4,6]

The fixture server (this process) serves the positive fixture sites and N generated prospect
sites on loopback. Each measured configuration runs in a child "runner" process that becomes
the sub-reaper of everything it starts (worker processes, Playwright's node driver, every
Chromium process), reaps all of it at the end and reports ``getrusage(RUSAGE_CHILDREN)``: the
CPU seconds of the whole sending tree, nothing of the fixture server. Browser memory is the PSS
of the Chromium processes (``/proc/<pid>/smaps_rollup``), sampled while the run goes.

- **built**: ``worker.engine.Sender`` — one long-lived ``chromium-headless-shell`` per worker
  process, a fresh context per send, images/fonts/media refused, ``domcontentloaded`` waits, one
  page script per fill; screenshots and evidence written as the worker does. N processes in
  parallel; N is chosen by a short trial of each candidate.
- **naive**: ``bench.browser_naive.NaiveSender`` — Debian's full ``chromium`` launched for every
  send, ``load`` waits, Playwright's default step-by-step actions, the same screenshots.

Figures go to stdout and ``bench/results/send_throughput.json``; they are never asserted.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import platform
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


# --- the runner (a child process per configuration) -------------------------------------------


def _worker(mode: str, jobs: Any, results: Any, ready: Any, go: Any, evidence_root: str) -> None:
    os.environ["MIKOMI_ALLOW_PRIVATE"] = "1"  # the fixture sites are on loopback
    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    sender: Any
    if mode == "built":
        from worker.engine import Sender

        sender = Sender()
    else:
        from bench.browser_naive import NaiveSender

        sender = NaiveSender()
    with sender:
        ready.release()
        go.wait()
        while True:
            job = jobs.get()
            if job is None:
                break
            evidence = Path(evidence_root) / f"{os.getpid()}-{job['n']}"
            evidence.mkdir(parents=True, exist_ok=True)
            started = time.monotonic()
            try:
                if mode == "built":
                    outcome = sender.send(
                        job["url"], script, job["company"], job["optout"], evidence_dir=evidence
                    ).status
                else:
                    outcome = sender.send(
                        job["url"], script, job["company"], job["optout"], evidence_dir=evidence
                    )
            except Exception as exc:  # measured, not fatal
                outcome = f"error:{type(exc).__name__}"
            results.put((job["n"], outcome, time.monotonic() - started))


def _browser_pss_kib() -> tuple[int, int]:
    """(total PSS of Chromium processes below this runner in KiB, number of browsers)."""
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

    total = 0
    browsers = 0
    for pid, name in names.items():
        # Crashpad handlers are not the browser; the full chromium leaves one behind per launch.
        if "chrom" not in name.lower() or "crashpad" in name.lower() or not below_me(pid):
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"--type=" not in handle.read():
                    browsers += 1  # the browser process itself (its helpers carry --type=)
        except OSError:
            pass
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="latin-1") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total, browsers


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
    workers = [
        ctx.Process(target=_worker, args=(mode, job_queue, results, ready, go, evidence_root))
        for _ in range(procs)
    ]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.acquire()
    for n, job in enumerate(jobs):
        job_queue.put(job | {"n": n})
    for _ in workers:
        job_queue.put(None)

    samples: list[tuple[int, int]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append(_browser_pss_kib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    go.set()
    load_before = os.getloadavg()[0]
    outcomes: dict[str, int] = {}
    latencies = []
    for _ in jobs:
        _, outcome, seconds = results.get()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        latencies.append(seconds)
    wall = time.monotonic() - started
    stop.set()
    sampler.join()
    for worker in workers:
        worker.join(timeout=60)
    _reap_everything()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime
    subprocess.run(["rm", "-rf", evidence_root], check=False)
    peak_pss = max((s[0] for s in samples), default=0)
    peak_browsers = max((s[1] for s in samples), default=0)
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
        "browser_pss_peak_mib": round(peak_pss / 1024, 1),
        "browsers_seen_at_peak": peak_browsers,
        "browser_pss_per_browser_mib": round(peak_pss / 1024 / max(1, peak_browsers), 1),
        # Other work on the machine inflates wall time (and a little CPU): say how busy it was.
        "load_average_1m": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "latency_p50_s": round(latencies[len(latencies) // 2], 2),
        "latency_p95_s": round(latencies[int(len(latencies) * 0.95) - 1], 2),
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
            [
                sys.executable,
                __file__,
                "--runner",
                mode,
                "--procs",
                str(procs),
                "--jobs",
                jobs_file,
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    finally:
        os.unlink(jobs_file)
    if proc.returncode != 0:
        raise RuntimeError(f"runner {mode}/{procs} failed:\n{proc.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=200)
    parser.add_argument("--naive-sends", type=int, default=24)
    parser.add_argument("--naive-procs", type=int, default=2)
    parser.add_argument("--procs", default="3,4,6,8", help="candidate worker process counts")
    parser.add_argument("--trial-sends", type=int, default=40)
    parser.add_argument("--runner", choices=["built", "naive"])
    parser.add_argument("--jobs")
    args = parser.parse_args()

    if args.runner:
        jobs = json.loads(Path(args.jobs).read_text(encoding="utf-8"))
        print(json.dumps(run_config(args.runner, int(args.procs), jobs)))
        return

    from fixtures.server import FixtureServer

    with FixtureServer(generated=args.generated) as server:
        positive = [
            s
            for s in server.sites
            if s.expected["outcome"]["status"] == "sent" and s.submission_expected
        ]
        real_sites = [s for s in positive if not s.generated]
        base = "http://127.0.0.1:8000"
        all_jobs = _jobs(positive, base)
        print(
            f"corpus: {len(real_sites)} positive fixture sites + "
            f"{len(positive) - len(real_sites)} generated = {len(all_jobs)} sends",
            flush=True,
        )

        trials = []
        for procs in [int(p) for p in args.procs.split(",")]:
            server.clear()
            trial = _run_child("built", procs, all_jobs[: args.trial_sends])
            trials.append(trial)
            print(f"  trial built N={procs}: {trial['sends_per_min']} sends/min, "
                  f"{trial['cpu_s_per_send']} CPU-s/send", flush=True)  # fmt: skip
        best = max(trials, key=lambda t: t["sends_per_min"])["processes"]

        server.clear()
        built = _run_child("built", best, all_jobs)
        built["received_submissions"] = len(server.submissions())
        print(f"built  N={best}: {built}", flush=True)

        server.clear()
        # The naive run covers the same mix of sites, fewer of them: it is ~10x slower.
        step = max(1, len(all_jobs) // args.naive_sends)
        naive_jobs = all_jobs[::step][: args.naive_sends]
        naive = _run_child("naive", args.naive_procs, naive_jobs)
        naive["received_submissions"] = len(server.submissions())
        print(f"naive  N={args.naive_procs}: {naive}", flush=True)

    ratio = built["sends_per_min"] / naive["sends_per_min"] if naive["sends_per_min"] else None
    cpu_ratio = (
        naive["cpu_s_per_send"] / built["cpu_s_per_send"] if built["cpu_s_per_send"] else None
    )
    document = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "built": built,
        "naive": naive,
        "trials": trials,
        "throughput_ratio": round(ratio, 2) if ratio else None,
        "cpu_per_send_ratio": round(cpu_ratio, 2) if cpu_ratio else None,
        "targets": {"ratio_at_least": 5, "sends_per_min_at_least": 150},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")

    print()
    print(f"{'':28}{'built':>14}{'naive':>14}")
    print(f"{'processes':28}{built['processes']:>14}{naive['processes']:>14}")
    print(f"{'sends':28}{built['sends']:>14}{naive['sends']:>14}")
    print(f"{'sends/min':28}{built['sends_per_min']:>14}{naive['sends_per_min']:>14}")
    print(f"{'CPU-s per send':28}{built['cpu_s_per_send']:>14}{naive['cpu_s_per_send']:>14}")
    print(
        f"{'browser PSS peak (MiB)':28}{built['browser_pss_peak_mib']:>14}{naive['browser_pss_peak_mib']:>14}"
    )
    print(
        f"{'PSS per browser (MiB)':28}{built['browser_pss_per_browser_mib']:>14}{naive['browser_pss_per_browser_mib']:>14}"
    )
    print(
        f"{'load average (1 min)':28}{str(built['load_average_1m']):>14}{str(naive['load_average_1m']):>14}"
    )
    print(f"{'latency p50 (s)':28}{built['latency_p50_s']:>14}{naive['latency_p50_s']:>14}")
    print(f"{'outcomes':28}{json.dumps(built['outcomes']):>14}  {json.dumps(naive['outcomes'])}")
    print(f"throughput ratio built/naive: {document['throughput_ratio']}x "
          f"(CPU per send {document['cpu_per_send_ratio']}x less); results in {RESULTS.relative_to(ROOT)}")  # fmt: skip


if __name__ == "__main__":
    main()
