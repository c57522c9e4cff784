"""Long-running parts: ``mikomi up`` (everything on one machine) and each part on its own."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    app.command()(up)
    app.command()(coordinator)
    app.command()(worker)
    app.command("import-worker")(import_worker)
    app.command()(dispatcher)
    app.command()(sweeper)
    app.command()(mailin)


def up(
    port: int = typer.Option(8000, help="coordinator port on 127.0.0.1"),
    workers: int = typer.Option(
        2, help="worker processes (browser slots each, adapted to the host)"
    ),
    demo: bool | None = typer.Option(
        None,
        help="serve the demo fixture sites and load demo data (default: MIKOMI_DEMO, which "
        "`make run` sets)",
    ),
    demo_prospects: int = typer.Option(1200, help="generated demo prospect sites"),
) -> None:
    """The whole system on one machine: Redis (unless MIKOMI_REDIS_URL is set), the database
    (SQLite under ./var unless MIKOMI_DATABASE_URL is set), coordinator, dispatcher, sweeper,
    workers and, for the demo, the fixture sites with demo data. Ctrl-C stops everything."""
    from mikomi.supervisor import run_up
    from shared.config import get_settings

    if demo is None:
        demo = get_settings().demo
    elif not demo:
        _refuse_unsafe_settings()
    raise typer.Exit(run_up(port=port, workers=workers, demo=demo, demo_prospects=demo_prospects))


def _refuse_unsafe_settings() -> None:
    from shared.config import get_settings, unsafe_setting

    problem = unsafe_setting(get_settings())
    if problem:
        typer.secho(f"error: refusing to start: {problem}", fg="red", bold=True, err=True)
        raise typer.Exit(2)


def _require_schema(service: str) -> None:
    from shared import logs, migrate
    from shared.db import get_engine

    logs.configure(service)
    _refuse_unsafe_settings()
    logs.log_start(service)

    try:
        migrate.ensure_current(get_engine())
    except migrate.SchemaOutOfDate as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def coordinator(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    processes: int = typer.Option(1, help="uvicorn worker processes"),
) -> None:
    """The coordinator (HTTP API and web UI)."""
    import uvicorn

    _require_schema("coordinator")
    uvicorn.run(
        "coordinator.app:app",
        host=host,
        port=port,
        workers=processes,
        log_level="info",
        log_config=None,  # uvicorn's lines go through shared/logs.py like every other line
        proxy_headers=True,
    )


def worker(
    processes: int = typer.Option(
        1, "--processes", "-n", help="worker processes, each with adaptive browser slots"
    ),
) -> None:
    """Sending workers: RQ worker processes, each running as many browser slots as the host allows."""
    _require_schema("worker")
    from worker.main import run

    run(processes)


def import_worker(
    burst: bool = typer.Option(False, help="stop once the imports queue is empty"),
) -> None:
    """Prospect imports: an RQ worker of the imports queue (any host; docs/operations.md)."""
    _require_schema("import-worker")
    from mikomi.import_worker import run

    raise typer.Exit(run(burst=burst))


def dispatcher(interval: float = typer.Option(1.0, help="seconds between ticks")) -> None:
    """Keeps each running reservation at `senders − in_flight` dispatched items; reaps leases."""
    _require_schema("dispatcher")
    from coordinator.fleet.dispatcher import run_forever

    run_forever(interval_s=interval)


def sweeper(interval: float = typer.Option(5.0, help="seconds between sweeps")) -> None:
    """Applies the time-based rules (pause auto-cancel, order expiry) and sends pending mail."""
    _require_schema("sweeper")
    from coordinator.sweeper import run_forever

    run_forever(interval_s=interval)


def mailin(
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(2525, help="SMTP port"),
) -> None:
    """Inbound SMTP for MIKOMI_REPLY_DOMAIN: records auto-replies, replies and bounces to the
    items' reply addresses and forwards replies to the member (docs/operations.md#mailin)."""
    from shared.config import get_settings

    if not get_settings().reply_domain:
        typer.secho("error: MIKOMI_REPLY_DOMAIN is not set", fg="red", err=True)
        raise typer.Exit(2)
    _require_schema("mailin")
    from coordinator.responses.mailin import run_forever

    run_forever(host, port)
