"""mailin benchmark: figures go to bench/results/mailin.json, never into tests.

Measures, on this machine, with real parts: ``mikomi mailin``'s server (aiosmtpd, in a thread
of this process) over a fresh committed database, fed by real SMTP clients (smtplib), one
message per SMTP transaction — a mix of form auto-replies (ISO-2022-JP), people's replies
(Shift_JIS, forwarded to a local aiosmtpd mailbox) and HTML mail (UTF-8), each to its own
item's reply address. Reported: messages per second end to end (SMTP accepted = stored,
counted, committed) with 1 and 4 concurrent clients, and the per-message latency p50/p95.

Environment: MAILIN_BENCH_MESSAGES (default 300), MAILIN_BENCH_DB=sqlite|postgresql (default
sqlite). Ends with the line
``mailin: messages=N clients=C per_s=X p50_ms=Y p95_ms=Z db=D`` per client count.
"""

from __future__ import annotations

import json
import os
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


_LOCK = threading.Lock()


def _client(port: int, part: list[tuple[str, bytes]], latencies: list[float]) -> None:
    """One SMTP client: one connection, one transaction per message, each timed."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        for address, raw in part:
            started = time.perf_counter()
            smtp.sendmail("bench@prospect.example.jp", [address], raw)
            with _LOCK:
                latencies.append(time.perf_counter() - started)


def main() -> None:
    n = int(os.environ.get("MAILIN_BENCH_MESSAGES", "300"))
    kind = os.environ.get("MAILIN_BENCH_DB", "sqlite")
    tmp = Path(tempfile.mkdtemp(prefix="mailin-bench-"))
    pg_name = f"mikomi_mailin_bench_{uuid.uuid4().hex[:8]}"
    if kind == "postgresql":
        from tests.support.databases import create_pg_database

        url = create_pg_database(pg_name)
    else:
        url = f"sqlite:///{tmp / 'bench.db'}"
    os.environ["MIKOMI_DATABASE_URL"] = url
    os.environ["MIKOMI_VAR_DIR"] = str(tmp)

    from aiosmtpd.controller import Controller

    from coordinator.responses.mailin import controller
    from mikomi.supervisor import free_port
    from shared import migrate
    from shared.config import Settings, get_settings
    from shared.db import reset_engine
    from tests.coordinator.responses import mails
    from tests.coordinator.responses.replies import DOMAIN, SENT, make_sent_items
    from tests.support.mail import Inbox

    get_settings.cache_clear()
    reset_engine()
    migrate.upgrade(url)
    sink = Controller(Inbox(), hostname="127.0.0.1", port=free_port())
    sink.start()
    settings = Settings(
        reply_domain=DOMAIN,
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        mail_from="noreply@mikomi.bench",
    )
    server = controller(settings, "127.0.0.1", free_port())
    server.start()
    results: dict[str, object] = {"db": kind, "messages": n, "runs": []}
    try:
        for clients in (1, 4):
            sent = make_sent_items([SENT] * n)
            addresses = list(sent.items)
            raws = []
            for i, address in enumerate(addresses):
                if i % 3 == 0:
                    raws.append(
                        mails.iso2022jp(
                            address,
                            "【自動返信】お問い合わせありがとうございます",
                            "以下の内容で受け付けました。\n" * 20,
                        )
                    )
                elif i % 3 == 1:
                    raws.append(
                        mails.shift_jis(
                            address, "Re: ご提案の件", "ご連絡ありがとうございます。\n" * 10
                        )
                    )
                else:
                    raws.append(
                        mails.html_only(address, "Re: ご案内", "<p>資料を拝見しました。</p>" * 30)
                    )
            latencies: list[float] = []
            pairs = list(zip(addresses, raws, strict=True))
            threads = [
                threading.Thread(target=_client, args=(server.port, pairs[i::clients], latencies))
                for i in range(clients)
            ]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - started
            q = statistics.quantiles(latencies, n=20)
            run = {
                "clients": clients,
                "per_s": round(n / elapsed, 1),
                "p50_ms": round(statistics.median(latencies) * 1000, 1),
                "p95_ms": round(q[18] * 1000, 1),
            }
            results["runs"].append(run)  # type: ignore[attr-defined]
            print(
                f"mailin: messages={n} clients={clients} per_s={run['per_s']} "
                f"p50_ms={run['p50_ms']} p95_ms={run['p95_ms']} db={kind}",
                flush=True,
            )
    finally:
        deadline = time.monotonic() + 60  # the forwards still under way reach the mailbox
        while server.handler.forwarding and time.monotonic() < deadline:
            time.sleep(0.1)
        server.stop()
        sink.stop()
        reset_engine()
        if kind == "postgresql":
            from tests.support.databases import drop_pg_database

            drop_pg_database(pg_name)
    out = ROOT / "bench" / "results" / "mailin.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
