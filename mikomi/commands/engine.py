"""``mikomi send`` and ``mikomi qa`` (docs/operations.md#command-line): one real send, and the
fixture corpus as QA."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from fixtures.server import FixtureServer, SiteInfo
    from shared.config import Settings
    from worker.engine import SendResult

EXIT_USAGE = 2
EXIT_CONFIG = 3
QA_SCRIPT = Path(__file__).resolve().parents[2] / "fixtures" / "scripts" / "qa.json"
# Sends at once (on one shared browser, or a browser each: worker_shared_browser); two cores
# are busy with three.
QA_THREADS = 3


def _load_script(path: Path) -> dict[str, Any]:
    from formfill import validate_script

    try:
        script = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        typer.echo(f"error: cannot read the script {path}: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from exc
    if not isinstance(script, dict):
        typer.echo(f"error: the script {path} is not a JSON object", err=True)
        raise typer.Exit(EXIT_USAGE)
    problems = validate_script(script)
    if problems:
        for problem in problems:
            typer.echo(f"error: script: {problem}", err=True)
        raise typer.Exit(EXIT_USAGE)
    return script


def send(
    url: Annotated[str, typer.Argument(help="The prospect's website (top page or contact page)")],
    script: Annotated[Path, typer.Option("--script", help="Script JSON (docs/rules.md#scripts)")],
    company: Annotated[
        str, typer.Option("--company", help="The prospect's company name ({{company}})")
    ] = "貴社",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Everything except the final submit")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout")] = False,
    evidence_dir: Annotated[
        Path | None, typer.Option("--evidence-dir", help="Screenshots and evidence.json here")
    ] = None,
) -> None:
    """Run one real send against URL (exit 0 whenever an outcome was reached)."""
    from urllib.parse import urlsplit

    from playwright.sync_api import Error as PlaywrightError

    from shared.config import get_settings
    from worker.engine import Sender

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        typer.echo(f"error: not an http(s) URL: {url}", err=True)
        raise typer.Exit(EXIT_USAGE)
    loaded = _load_script(script)
    settings = get_settings()
    optout_url = f"{settings.public_base_url.rstrip('/')}/optout/{secrets.token_urlsafe(16)}"
    try:
        with Sender(settings) as sender:
            result = sender.send(
                url, loaded, company, optout_url, dry_run=dry_run, evidence_dir=evidence_dir
            )
    except PlaywrightError as exc:
        typer.echo(f"error: the browser could not start: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from exc
    if as_json:
        sys.stdout.write(json.dumps(result.summary(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    typer.echo(f"{result.status}" + (f" ({result.reason})" if result.reason else ""))
    typer.echo(f"contact page: {result.contact_url or '-'}")
    for entry in result.fields:
        typer.echo(f"  {entry['role']:<16} {entry['name']}: {entry['value'][:60]!r}")
    typer.echo(f"{result.elapsed_ms} ms")


# --- qa -------------------------------------------------------------------------------------


@dataclass
class SiteVerdict:
    """One fixture site's QA line: what was expected, what happened, what the site received."""

    site: str
    expected: str
    got: str
    wrong_fields: list[str] = field(default_factory=list)
    submissions: int = 0
    problems: list[str] = field(default_factory=list)
    elapsed_ms: int = 0
    first_look: bool = False  # ended on the first look, without a browser

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "expected": self.expected,
            "got": self.got,
            "wrong_fields": self.wrong_fields,
            "submissions": self.submissions,
            "problems": self.problems,
            "ok": self.ok,
            "elapsed_ms": self.elapsed_ms,
            "first_look": self.first_look,
        }


def _outcome_word(status: str, reason: str | None) -> str:
    return f"{status}/{reason}" if reason else status


def judge_site(
    site: SiteInfo, result: SendResult | None, received: list[dict[str, Any]]
) -> SiteVerdict:
    """Compare one send with the site's expected.json and what the server recorded."""
    from fixtures.corpus import match_expected

    outcome = site.expected["outcome"]
    expected = _outcome_word(outcome["status"], outcome.get("reason"))
    got = "error" if result is None else _outcome_word(result.status, result.reason)
    verdict = SiteVerdict(site.name, expected, got, submissions=len(received))
    verdict.elapsed_ms = result.elapsed_ms if result is not None else 0
    verdict.first_look = result is not None and bool(result.evidence.get("first_look"))
    if got != expected:
        verdict.problems.append("outcome")
    if len(received) > 1:
        verdict.problems.append("duplicate submission")
    if site.submission_expected:
        if not received:
            verdict.problems.append("no submission received")
        else:
            verdict.wrong_fields = match_expected(site.expected, received[-1]["fields"])
            if verdict.wrong_fields:
                verdict.problems.append("wrong fields")
    elif received:
        verdict.problems.append("submission on a negative site")
    return verdict


def run_corpus(
    server: FixtureServer,
    sites: list[SiteInfo] | None = None,
    threads: int = QA_THREADS,
    evidence_root: Path | None = None,
    settings: Settings | None = None,
) -> list[SiteVerdict]:
    """Send to every site through the real engine, ``threads`` browsers at a time.

    ``settings`` must allow private addresses (the sites are on loopback); by default the
    process settings are used as they are.
    """
    from shared.config import get_settings
    from worker.engine import Sender
    from worker.green import BrowserHost, HostedSender

    settings = settings or get_settings()

    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    todo: queue.Queue[SiteInfo] = queue.Queue()
    chosen = list(server.sites if sites is None else sites)
    # The slowest sites (a site that never answers) first, so they overlap the rest.
    chosen.sort(key=lambda s: s.expected["outcome"].get("reason") != "timeout")
    for site in chosen:
        todo.put(site)
    results: dict[str, SendResult | None] = {}
    lock = threading.Lock()
    base = settings.public_base_url.rstrip("/")

    # As a worker process sends (worker/green.py): the threads share one browser, or each has
    # its own with worker_shared_browser off.
    host = BrowserHost(lambda: Sender(settings)).start() if settings.worker_shared_browser else None

    def work() -> None:
        with contextlib.ExitStack() as stack:
            sender = HostedSender(host) if host else stack.enter_context(Sender(settings))
            while True:
                try:
                    site = todo.get_nowait()
                except queue.Empty:
                    return
                result: SendResult | None
                try:
                    result = sender.send(
                        site.url,
                        script,
                        site.company,
                        f"{base}/optout/qa-{site.name}",
                        evidence_dir=evidence_root / site.name if evidence_root else None,
                    )
                except Exception as exc:  # a crash is a QA failure, not a QA abort
                    print(f"{site.name}: engine error: {exc!r}", file=sys.stderr)
                    result = None
                with lock:
                    results[site.name] = result

    workers = [
        threading.Thread(target=work, name=f"qa-{i}")
        for i in range(max(1, min(threads, len(chosen))))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if host is not None:
        host.close()
    return [
        judge_site(site, results.get(site.name), server.submissions(site.name))
        for site in sorted(chosen, key=lambda s: s.name)
    ]


def qa(
    as_json: Annotated[bool, typer.Option("--json", help="The scoreboard as JSON")] = False,
    threads: Annotated[int, typer.Option("--threads", help="Browsers in parallel")] = QA_THREADS,
    evidence_dir: Annotated[
        Path | None, typer.Option("--evidence-dir", help="Keep each site's evidence here")
    ] = None,
    first_look: Annotated[
        str,
        typer.Option(
            "--first-look", help="on|off: the browser-free first look (default: MIKOMI_FIRST_LOOK)"
        ),
    ] = "",
) -> None:
    """Run every fixture site through the real sending path; exit 1 on any mismatch."""
    if first_look not in ("", "on", "off"):
        typer.echo(f"error: --first-look is on or off, not {first_look!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    if first_look:
        os.environ["MIKOMI_FIRST_LOOK"] = "1" if first_look == "on" else "0"
    # The fixture sites live on loopback: this run, and only this run, may reach it.
    os.environ["MIKOMI_ALLOW_PRIVATE"] = "1"
    from shared.config import get_settings

    get_settings.cache_clear()
    from fixtures.server import FixtureServer

    started = time.monotonic()
    with FixtureServer(generated=0) as server:
        verdicts = run_corpus(server, threads=threads, evidence_root=evidence_dir)
    elapsed = time.monotonic() - started
    passed = sum(v.ok for v in verdicts)
    if as_json:
        document = {
            "sites": [v.as_dict() for v in verdicts],
            "total": len(verdicts),
            "passed": passed,
            "failed": len(verdicts) - passed,
            "first_look": sum(v.first_look for v in verdicts),
            "elapsed_s": round(elapsed, 1),
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        _print_scoreboard(verdicts, elapsed)
    if passed != len(verdicts):
        raise typer.Exit(1)


def _print_scoreboard(verdicts: list[SiteVerdict], elapsed: float) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="mikomi qa — fixture sites")
    table.add_column("site", no_wrap=True)
    table.add_column("expected", no_wrap=True)
    table.add_column("got", no_wrap=True)
    table.add_column("wrong fields")
    table.add_column("subs", justify="right")
    table.add_column("", justify="center")
    for v in verdicts:
        mark = "[green]OK[/green]" if v.ok else "[red]NG[/red]"
        got = v.got if v.got == v.expected else f"[red]{v.got}[/red]"
        detail = ", ".join(v.wrong_fields) or ("; ".join(p for p in v.problems if p != "outcome"))
        table.add_row(v.site, v.expected, got, detail, str(v.submissions), mark)
    # Wide enough for whole site names and outcome words when piped to a file or CI log.
    console = Console(width=max(Console().width, 140))
    console.print(table)
    passed = sum(v.ok for v in verdicts)
    ended = sum(v.first_look for v in verdicts)
    console.print(
        f"{passed}/{len(verdicts)} sites correct, {len(verdicts) - passed} wrong, "
        f"{ended} ended on the first look, {elapsed:.1f} s"
    )


def register(app: typer.Typer) -> None:
    app.command("send")(send)
    app.command("qa")(qa)
