"""``mikomi users create``: members (with their company) and operators."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Users (会員 and 運営)")


@app.command()
def create(
    role: Annotated[str, typer.Option(help="member | operator")],
    email: Annotated[str, typer.Option(help="login e-mail address")],
    password: Annotated[
        str, typer.Option(help="at least 8 characters", prompt=True, hide_input=True)
    ],
    company: Annotated[str | None, typer.Option(help="会社名 (members only; required)")] = None,
    name: Annotated[str, typer.Option(help="担当者名")] = "",
) -> None:
    """Create a user. A member gets a new member company named --company."""
    from coordinator.accounts import service
    from coordinator.errors import AppError
    from shared.db import get_engine, session_scope
    from shared.enums import Role
    from shared.migrate import ensure_current

    try:
        parsed_role = Role(role)
    except ValueError:
        typer.secho("error: --role must be member or operator", fg="red", err=True)
        raise typer.Exit(2) from None
    if parsed_role == Role.OPERATOR and company:
        typer.secho("error: operators have no company; leave out --company", fg="red", err=True)
        raise typer.Exit(2)
    try:
        ensure_current(get_engine())
    except Exception as exc:  # out-of-date or missing schema: say so and stop
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        with session_scope() as db:
            user = service.create_user(
                db, email=email, password=password, role=parsed_role, company=company, name=name
            )
            user_id, member_id, saved_email = user.id, user.member_id, user.email
    except AppError as exc:
        typer.secho(f"error: {exc.message} ({exc.code})", fg="red", err=True)
        raise typer.Exit(1) from None
    where = f" member {member_id} ({company})" if member_id is not None else ""
    typer.echo(f"created {parsed_role.value} user {user_id} <{saved_email}>{where}")
