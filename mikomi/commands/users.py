"""``mikomi users create|list|disable|enable|set-password``: members and operators."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")

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
    from shared.enums import Role

    try:
        parsed_role = Role(role)
    except ValueError:
        typer.secho("error: --role must be member or operator", fg="red", err=True)
        raise typer.Exit(2) from None
    if parsed_role == Role.OPERATOR and company:
        typer.secho("error: operators have no company; leave out --company", fg="red", err=True)
        raise typer.Exit(2)

    def _create(db: Session) -> str:
        user = service.create_user(
            db, email=email, password=password, role=parsed_role, company=company, name=name
        )
        where = f" member {user.member_id} ({company})" if user.member_id is not None else ""
        return f"created {parsed_role.value} user {user.id} <{user.email}>{where}"

    typer.echo(_in_transaction(_create))


def _in_transaction(work: Callable[[Session], T]) -> T:
    """Run ``work`` in one transaction on a current schema; errors exit with their message."""
    from coordinator.errors import AppError
    from shared.db import get_engine, transaction
    from shared.migrate import ensure_current

    try:
        ensure_current(get_engine())
    except Exception as exc:  # out-of-date or missing schema: say so and stop
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    try:
        with transaction() as db:
            return work(db)
    except AppError as exc:
        typer.secho(f"error: {exc.message} ({exc.code})", fg="red", err=True)
        raise typer.Exit(1) from None


@app.command("list")
def list_users() -> None:
    """Every user: id, role, e-mail, member, active or disabled."""
    from coordinator.accounts import service

    def _rows(db: Session) -> list[str]:
        return [
            f"{u.id}\t{u.role}\t{u.email}\t{u.member_id or '-'}\t"
            f"{'active' if u.is_active else 'disabled'}"
            for u in service.list_users(db)
        ]

    typer.echo("id\trole\temail\tmember\tstate")
    for row in _in_transaction(_rows):
        typer.echo(row)


@app.command()
def disable(email: Annotated[str, typer.Argument(help="login e-mail address")]) -> None:
    """Refuse the user's logins and end every session and API token they hold."""
    from coordinator.accounts import service

    _in_transaction(lambda db: service.set_active(db, email, False))
    typer.echo(f"disabled {email} (every session and token ended)")


@app.command()
def enable(email: Annotated[str, typer.Argument(help="login e-mail address")]) -> None:
    """Let a disabled user log in again."""
    from coordinator.accounts import service

    _in_transaction(lambda db: service.set_active(db, email, True))
    typer.echo(f"enabled {email}")


@app.command("set-password")
def set_password(
    email: Annotated[str, typer.Argument(help="login e-mail address")],
    password: Annotated[
        str, typer.Option(help="at least 8 characters", prompt=True, hide_input=True)
    ],
) -> None:
    """Set a new password; every session and API token of the user ends."""
    from coordinator.accounts import service

    _in_transaction(lambda db: service.set_password(db, email, password))
    typer.echo(f"password of {email} changed (every session and token ended)")
