"""The ``mikomi`` command (docs/operations.md#command-line). Each area keeps its commands in
``mikomi/commands/``; heavy imports happen inside the commands so ``mikomi --help`` stays fast."""

from __future__ import annotations

import typer

from mikomi.commands import db, engine, fixtures, formfill_cmd, prospects, services, users

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Mikomi inquiry-form outreach")
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(prospects.app, name="prospects")
app.add_typer(fixtures.app, name="fixtures")
app.add_typer(formfill_cmd.app, name="formfill")
engine.register(app)  # send, qa
services.register(app)  # up, worker, coordinator, dispatcher, sweeper

if __name__ == "__main__":
    app()
