from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Database schema")


@app.command()
def upgrade(revision: str = typer.Argument("head")) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    from shared import migrate
    from shared.config import get_settings

    migrate.upgrade(revision=revision)
    typer.echo(f"database at {revision}: {get_settings().effective_database_url}")


@app.command()
def downgrade(revision: str = typer.Argument(...)) -> None:
    """Roll the schema back to REVISION ("base" removes everything)."""
    from shared import migrate

    migrate.downgrade(revision=revision)
    typer.echo(f"database at {revision}")


@app.command()
def current() -> None:
    """Print the schema revision of the database and of this code."""
    from shared import migrate
    from shared.db import get_engine

    typer.echo(
        f"database: {migrate.current_revision(get_engine())}  code: {migrate.head_revision()}"
    )
