"""Prospect list benchmark: import prospects and the 法人番号 registry and search them, on SQLite
and PostgreSQL.

    .venv/bin/python bench/prospects.py [--rows N] [--registry-rows N] [--searches N]
        [--engines sqlite,postgresql] [--results bench/results/prospects.json]

Generates a deterministic CSV (realistic Japanese companies, ~5% duplicate domains), imports it
through the real import path (coordinator.prospects.importer) into a fresh SQLite file under
var/bench/ and a fresh PostgreSQL database (created and dropped here), then times typical
searches (count + first page, as the prospect list screen does). Then it imports a generated
registry file (coordinator/prospects/registry_sample.py, ``--registry-rows``, default
``--rows``) through coordinator.prospects.registry while another connection keeps searching,
and reports the registry import's time, the searches' p95 during it and the memory of the
writing and reading processes over it (the mean of each tenth, peak). Figures go to
bench/results/prospects.json; each engine ends with the line
``prospects: rows=N import_s=S p95_ms=P keyword_p95_ms=K engine=E`` (S: the registry import).
Targets: registry import of 5,000,000 rows < 6 min, search p95 < 100 ms (< 300 ms during the
import).
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from coordinator.prospects import import_reading, importer, registry, search  # noqa: E402
from coordinator.prospects.registry_sample import (  # noqa: E402
    corporate_number,
    corporations,
    write_registry,
)
from formfill import PREFECTURES  # noqa: E402
from shared import migrate  # noqa: E402
from shared.db import make_engine, transaction  # noqa: E402
from shared.models import Member  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results" / "prospects.json"
PG_ADMIN_URL = os.environ.get(
    "MIKOMI_BENCH_PG_URL", "postgresql+psycopg://postgres:postgres@127.0.0.1:5432/postgres"
)
SEED = 20260401

INDUSTRIES = (
    "製造業", "建設業", "情報通信業", "卸売業", "小売業", "不動産業", "運輸業", "飲食業",
    "医療・福祉", "教育・学習支援", "サービス業", "金融業", "保険業", "広告業", "人材サービス",
    "コンサルティング", "印刷業", "農業", "宿泊業", "士業",
)  # fmt: skip
SURNAMES = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("清水", "shimizu"), ("森", "mori"),
)  # fmt: skip
WORDS = (
    ("サクラ", "sakura"), ("アオバ", "aoba"), ("ミライ", "mirai"), ("ヒカリ", "hikari"),
    ("フジ", "fuji"), ("ツバサ", "tsubasa"), ("ヤマト", "yamato"), ("アサヒ", "asahi"),
    ("グローバル", "global"), ("ネクスト", "next"), ("テクノ", "techno"), ("ソリューション", "solution"),
    ("クリエイト", "create"), ("ライフ", "life"), ("エコ", "eco"), ("スマイル", "smile"),
)  # fmt: skip
SUFFIX_BY_INDUSTRY = {
    "製造業": ("製作所", "工業", "精機"), "建設業": ("建設", "工務店", "組"),
    "情報通信業": ("システムズ", "テック", "ソフト"), "卸売業": ("商事", "物産", "商会"),
    "小売業": ("商店", "ストア", "販売"), "不動産業": ("不動産", "地所", "ハウジング"),
    "運輸業": ("運輸", "物流", "交通"), "飲食業": ("フーズ", "食堂", "ダイニング"),
}  # fmt: skip
CITIES = ("中央区", "北区", "南区", "東区", "西区", "港区", "緑区", "青葉区", "本町", "市役所前")
TLDS = ("co.jp", "jp", "com", "net", "co.jp", "co.jp")
HEADER = import_reading.COLUMNS[:10]


def generate_csv(path: Path, rows: int, seed: int = SEED, *, keep: bool = False) -> dict[str, int]:
    """A deterministic prospect CSV; ~5% of rows repeat an earlier domain in another spelling,
    ~10% have no URL. With ``keep``, a file generated before (and its figures, kept beside it)
    is used again."""
    figures_path = path.with_suffix(".json")
    if keep and path.exists() and figures_path.exists():
        figures: dict[str, int] = json.loads(figures_path.read_text(encoding="utf-8"))
        return figures
    figures = _write_csv(path, rows, seed)
    if keep:
        figures_path.write_text(json.dumps(figures), encoding="utf-8")
    return figures


def _write_csv(path: Path, rows: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    domains: list[str] = []
    duplicates = no_url = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            industry = rng.choice(INDUSTRIES)
            surname, roma = rng.choice(SURNAMES)
            word, word_roma = rng.choice(WORDS)
            suffix = rng.choice(SUFFIX_BY_INDUSTRY.get(industry, ("", "サービス", "パートナーズ")))
            base = f"{surname}{suffix}" if rng.random() < 0.5 else f"{word}{suffix}"
            company = f"株式会社{base}" if rng.random() < 0.6 else f"{base}株式会社"
            roll = rng.random()
            if roll < 0.05 and domains:
                duplicates += 1
                url = f"https://www.{rng.choice(domains)}/"
            elif roll < 0.15:
                no_url += 1
                url = ""
            else:
                stem = roma if base.startswith(surname) else word_roma
                domain = f"{stem}-{i:07d}.{rng.choice(TLDS)}"
                domains.append(domain)
                url = f"https://{domain}/" if rng.random() < 0.7 else f"http://www.{domain}"
            prefecture = PREFECTURES[min(int(rng.expovariate(0.12)), 46)]
            employees = int(rng.lognormvariate(3.2, 1.3)) + 1
            capital = rng.choice((1, 3, 5, 10, 20, 30, 50, 100, 300, 1000)) * 1_000_000
            writer.writerow([
                company, url, industry, prefecture, rng.choice(CITIES),
                f"{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}",
                f"0{rng.randint(3, 99)}-{rng.randint(100, 9999)}-{rng.randint(1000, 9999)}",
                employees, capital, rng.randint(1950, 2025),
            ])  # fmt: skip
    return {"rows": rows, "duplicate_domain_rows": duplicates, "rows_without_url": no_url}


def typical_queries(n: int, seed: int = SEED + 1) -> list[tuple[str, search.ProspectQuery]]:
    rng = random.Random(seed)
    keywords = [s for s, _ in SURNAMES] + [w for w, _ in WORDS] + ["建設", "商事", "テック", "工業"]
    mixes: list[tuple[str, search.ProspectQuery]] = []
    for i in range(n):
        kind = i % 5
        prefs = tuple(rng.sample(PREFECTURES[:20], rng.randint(1, 3)))
        inds = tuple(rng.sample(INDUSTRIES, rng.randint(1, 3)))
        page = rng.choice((1, 1, 1, 2, 5))
        if kind == 0:
            q = search.ProspectQuery(prefecture=prefs, industry=inds, has_url=True, page=page)
            mixes.append(("prefecture+industry+has_url", q))
        elif kind == 1:
            q = search.ProspectQuery(
                keyword=rng.choice(keywords), has_url=rng.random() < 0.5, page=page
            )
            mixes.append(("keyword", q))
        elif kind == 2:
            low = rng.choice((1, 10, 30, 50, 100))
            q = search.ProspectQuery(
                employees_min=low,
                employees_max=low * rng.choice((2, 5, 10)),
                has_url=True,
                prefecture=prefs[:1] if rng.random() < 0.5 else (),
                page=page,
            )
            mixes.append(("employee_range", q))
        elif kind == 3:
            q = search.ProspectQuery(
                prefecture=prefs,
                has_url=True,
                exclude_contacted=True,
                exclude_suppressed=True,
                page=page,
            )
            mixes.append(("prefecture+exclusions", q))
        else:
            q = search.ProspectQuery(has_url=rng.random() < 0.7, page=page)
            mixes.append(("broad", q))
    return mixes


@contextmanager
def _opener(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction (shared.db.transaction) on a session of the bench's own engine."""
    with factory() as session, transaction(session):
        yield session


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(ordered[-1], 2),
        "n": len(ordered),
    }


def _search_during(
    factory: sessionmaker[Session], member_id: int, stop: threading.Event
) -> list[float]:
    """Searches in a loop on their own connection until ``stop``: the coordinator serving
    while an import runs."""
    timings: list[float] = []
    queries = typical_queries(10_000, seed=SEED + 2)
    for _, q in queries:
        if stop.is_set():
            break
        # A transaction per search, as the coordinator has one per request: one read
        # transaction held for the whole import would keep SQLite from ever resetting its
        # write-ahead log (it grew past 3 GB at five million rows and slowed the import).
        t0 = time.perf_counter()
        with _opener(factory) as db:
            search.search(db, q, member_id)
        timings.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.05)
    return timings


def _rss_mib(pid: int | str) -> float | None:
    """A process's anonymous resident memory (its heap; SQLite's memory-mapped database pages
    are the file's page cache, not the process's)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return None


def _sample_memory(stop: threading.Event, samples: dict[str, list[float]]) -> None:
    """Every second until ``stop``: this (writing) process's memory and its reading process's."""
    while not stop.wait(1.0):
        writer = _rss_mib("self")
        if writer is not None:
            samples["writer"].append(writer)
        readers = [_rss_mib(child.pid) for child in multiprocessing.active_children() if child.pid]
        samples["reader"].extend(rss for rss in readers if rss is not None)


def _memory_figures(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    tenth = max(1, len(values) // 10)
    means = [statistics.mean(values[i : i + tenth]) for i in range(0, len(values), tenth)]
    return {
        "first_tenth_mean_mib": round(means[0], 1),
        "last_tenth_mean_mib": round(means[-1], 1),
        "peak_mib": round(max(values), 1),
        "by_tenth_mean_mib": [round(mean, 1) for mean in means],
        "samples": len(values),
    }


def bench_registry(
    name: str, factory: sessionmaker[Session], registry_path: Path, member_id: int
) -> dict[str, Any]:
    with _opener(factory) as db:
        job_id = registry.start_job(
            db, registry_path, filename=registry_path.name, created_by=None
        ).id
    stop = threading.Event()
    during: list[float] = []
    memory: dict[str, list[float]] = {"writer": [], "reader": []}
    searcher = threading.Thread(
        target=lambda: during.extend(_search_during(factory, member_id, stop)), daemon=True
    )
    sampler = threading.Thread(target=_sample_memory, args=(stop, memory), daemon=True)
    searcher.start()
    sampler.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    progress = registry.run_import(registry_path, job_id, sessions=lambda: _opener(factory))
    import_s = time.perf_counter() - started
    # The writing process's CPU (the reading one and the database server run beside it).
    import_cpu_s = time.process_time() - cpu_started
    stop.set()
    searcher.join()
    sampler.join()
    result = {
        "import_s": round(import_s, 1),
        "import_writer_cpu_s": round(import_cpu_s, 1),
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "imported": progress.imported,
        "rejected": progress.rejected,
        "search_during_import": _percentiles(during or [0.0]),
        # Streamed: once the database's page caches are full, every tenth holds the same.
        "memory": {part: _memory_figures(values) for part, values in memory.items()},
    }
    writer = result["memory"]["writer"]
    print(
        f"[{name}] registry: imported {progress.imported:,} corporations in {import_s:.1f} s "
        f"(writing process: {import_cpu_s:.1f} s CPU; load average {os.getloadavg()[0]:.1f}); "
        f"searches meanwhile p95 {result['search_during_import']['p95_ms']} ms "
        f"over {len(during)} searches; writing process memory (anonymous RSS) "
        f"{writer.get('first_tenth_mean_mib')} -> {writer.get('last_tenth_mean_mib')} MiB "
        f"(peak {writer.get('peak_mib')}), reading process peak "
        f"{result['memory']['reader'].get('peak_mib')} MiB",
        flush=True,
    )
    return result


def bench_engine(
    name: str, url: str, csv_path: Path, searches: int, registry_path: Path | None = None
) -> dict[str, Any]:
    migrate.upgrade(url)
    engine: Engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with _opener(factory) as db:
        member = Member(company_name="ベンチ株式会社")
        db.add(member)
        db.flush()
        member_id = member.id
        job = importer.create_job(db, filename=csv_path.name, created_by=None)
        job_id = job.id
    started, cpu_started = time.perf_counter(), time.process_time()
    progress = importer.run_import(csv_path, job_id, sessions=lambda: _opener(factory))
    import_s = time.perf_counter() - started
    # The machine may be shared: the bench's own CPU time says what the import cost here.
    import_cpu_s = time.process_time() - cpu_started
    print(
        f"[{name}] imported {progress.imported:,} (duplicates {progress.duplicates:,}, "
        f"rejected {progress.rejected:,}) in {import_s:.1f} s (this process: {import_cpu_s:.1f} s CPU; "
        f"load average {os.getloadavg()[0]:.1f})",
        flush=True,
    )

    timings: dict[str, list[float]] = {}
    every: list[float] = []
    with _opener(factory) as db:
        queries = typical_queries(searches)
        for _, q in queries[:10]:  # warm the caches once, as a running server would be
            search.search(db, q, member_id)
        for kind, q in queries:
            t0 = time.perf_counter()
            total, items = search.search(db, q, member_id)
            elapsed = (time.perf_counter() - t0) * 1000
            timings.setdefault(kind, []).append(elapsed)
            every.append(elapsed)
        t0 = time.perf_counter()
        broad_total = search.count(db, search.ProspectQuery(), member_id)
        count_all_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        url_total = search.count(db, search.ProspectQuery(has_url=True), member_id)
        count_url_ms = (time.perf_counter() - t0) * 1000
    registry_result = (
        bench_registry(name, factory, registry_path, member_id) if registry_path else None
    )
    engine.dispose()
    result: dict[str, Any] = {
        "import_s": round(import_s, 1),
        "import_client_cpu_s": round(import_cpu_s, 1),
        "load_average_after": [round(x, 1) for x in os.getloadavg()],
        "imported": progress.imported,
        "duplicates": progress.duplicates,
        "rejected": progress.rejected,
        "search": _percentiles(every),
        "search_by_kind": {kind: _percentiles(values) for kind, values in timings.items()},
        "count_all": {"total": broad_total, "ms": round(count_all_ms, 2)},
        "count_has_url": {"total": url_total, "ms": round(count_url_ms, 2)},
        "registry": registry_result,
    }
    print(
        f"[{name}] search p50 {result['search']['p50_ms']} ms, p95 {result['search']['p95_ms']} ms, "
        f"max {result['search']['max_ms']} ms over {len(every)} searches; "
        f"count(all) {count_all_ms:.1f} ms, count(URL有り) {count_url_ms:.1f} ms",
        flush=True,
    )
    for kind, values in sorted(result["search_by_kind"].items()):
        print(
            f"[{name}]   {kind:30s} p50 {values['p50_ms']:7.2f}  p95 {values['p95_ms']:7.2f}  "
            f"max {values['max_ms']:7.2f} ms"
        )
    keyword = result["search_by_kind"].get("keyword", {"p95_ms": 0.0})
    registry_s = registry_result["import_s"] if registry_result else result["import_s"]
    print(
        f"prospects: rows={progress.imported + (registry_result or {}).get('imported', 0)} "
        f"import_s={registry_s} p95_ms={result['search']['p95_ms']} "
        f"keyword_p95_ms={keyword['p95_ms']} engine={name}",
        flush=True,
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--registry-rows", type=int, default=None, help="0: no registry import")
    parser.add_argument("--searches", type=int, default=250)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument(
        "--keep-files",
        action="store_true",
        help="keep the generated CSV and registry files under var/bench/ and use them again "
        "(they depend only on the row counts)",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the figures go")
    args = parser.parse_args()

    csv_path = BENCH_DIR / f"prospects-{args.rows}.csv"
    t0 = time.perf_counter()
    generated = generate_csv(csv_path, args.rows, keep=args.keep_files)
    print(
        f"generated {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    registry_rows = args.rows if args.registry_rows is None else args.registry_rows
    registry_path: Path | None = None
    if registry_rows:
        registry_path = BENCH_DIR / f"registry-{registry_rows}.zip"
        t0 = time.perf_counter()
    if registry_path is not None and not (args.keep_files and registry_path.exists()):
        write_registry(
            registry_path,
            # Numbers of their own: every registry row is a new corporation of the list.
            (
                replace(corp, number=corporate_number(i))
                for i, corp in enumerate(corporations(registry_rows))
            ),
            encoding="cp932",
            zipped=True,
        )
        print(
            f"generated {registry_path} ({registry_path.stat().st_size / 1e6:.0f} MB zipped) in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
    results: dict[str, Any] = {
        "rows": args.rows,
        "registry_rows": registry_rows,
        "generated": generated,
        "engines": {},
    }
    for name in args.engines.split(","):
        if name == "sqlite":
            db_path = BENCH_DIR / "prospects-bench.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
            results["engines"]["sqlite"] = bench_engine(
                "sqlite", f"sqlite:///{db_path}", csv_path, args.searches, registry_path
            )
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        elif name == "postgresql":
            db_name = f"mikomi_bench_{os.getpid()}"
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            try:
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + db_name
                results["engines"]["postgresql"] = bench_engine(
                    "postgresql", url, csv_path, args.searches, registry_path
                )
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
                admin.dispose()
    if not args.keep_files:
        csv_path.unlink(missing_ok=True)
        if registry_path is not None:
            registry_path.unlink(missing_ok=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(
        json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
