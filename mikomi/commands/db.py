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


@app.command("worker-role")
def worker_role(
    name: str = typer.Option("mikomi_worker", help="the PostgreSQL role to create or update"),
    password: str = typer.Option(..., prompt=True, hide_input=True, help="its password"),
    apply: bool = typer.Option(False, help="run the statements (else print them)"),
) -> None:
    """The least-privilege role of the sending workers (PostgreSQL): print or apply its grants.

    Run it as an owner of the schema, after `mikomi db upgrade`; give worker hosts a
    MIKOMI_DATABASE_URL with this role."""
    from sqlalchemy import text

    from shared.config import get_settings
    from shared.db import get_engine
    from shared.db_roles import worker_role_sql

    url = get_settings().effective_database_url
    if not url.startswith("postgresql"):
        typer.secho(
            "error: roles are a PostgreSQL feature (this database is not)", fg="red", err=True
        )
        raise typer.Exit(2)
    statements = worker_role_sql(name, password, url)
    if not apply:
        for statement in statements:
            typer.echo(statement + ";")
        return
    with get_engine().begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    typer.echo(f"role {name} has the worker's rights")
