"""``mikomi fixtures serve``: the fixture sites (and generated prospect sites) on loopback."""

from __future__ import annotations

import csv
import os
import signal
import threading
from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Fixture websites for QA, demos and fleet tests")


@app.command()
def serve(
    generated: int = typer.Option(
        0, "--generated", min=0, help="Generated prospect sites to serve as well"
    ),
    log: Path | None = typer.Option(
        None, "--log", help="Append every final submission here (JSON lines)"
    ),
    export_prospects: Path | None = typer.Option(
        None, "--export-prospects", help="Write the served sites as a prospect CSV"
    ),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="Port (0: a free one)"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on"),
    smtp: str | None = typer.Option(
        None,
        "--smtp",
        help="HOST:PORT of an SMTP server: sites that auto-reply in real life send their mails there",
    ),
    latency_ms: int = typer.Option(
        0, "--latency-ms", min=0, help="Delay every answer of every site this many ms"
    ),
) -> None:
    """Serve every fixture site on <site>.localhost:<port> until Ctrl-C or SIGTERM."""
    from fixtures.corpus import PROSPECT_CSV_HEADER
    from fixtures.server import FixtureServer

    server = FixtureServer(
        generated=generated, log_path=log, host=host, port=port, smtp=smtp, latency_ms=latency_ms
    ).start()
    sites = server.sites
    if export_prospects is not None:
        # Written aside and renamed: whoever waits for the file (mikomi up) never reads half.
        partial = export_prospects.with_name(export_prospects.name + ".partial")
        with partial.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=PROSPECT_CSV_HEADER)
            writer.writeheader()
            writer.writerows(site.prospect_row() for site in sites)
        os.replace(partial, export_prospects)
    fixed = sum(1 for s in sites if not s.generated)
    typer.echo(f"port {server.port}")
    if smtp:
        typer.echo(f"sites' mails go to {smtp} (control: /__fixtures/mails)")
    typer.echo(f"serving {len(sites)} sites ({fixed} fixture, {len(sites) - fixed} generated)")
    if latency_ms:
        typer.echo(f"every answer delayed {latency_ms} ms")
    typer.echo(f"  e.g. {sites[0].url}   control: {server.control_url}/__fixtures/submissions")
    if export_prospects is not None:
        typer.echo(f"prospects written to {export_prospects}")

    # SIGTERM (systemd, `mikomi up` stopping its children) must end as cleanly as Ctrl-C.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        typer.echo("stopped")
