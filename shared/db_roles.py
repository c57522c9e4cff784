"""The least-privilege PostgreSQL role of the sending workers
(docs/operations.md#a-least-privilege-database-role-for-workers).

A worker host opens untrusted web pages all day; if one is ever taken over, the database role
it finds should be able to do as little as possible. A worker reads the item it was handed and
that item's script and reservation, and writes the outcome: the item, its attempt, the
reservation's counters and status history, one ledger entry per sent item, the contact record,
a refusal's suppression, the notifications of the rules that run in the same transaction, and
its own heartbeat. It never reads users, tokens, orders, payments, prospects or chat.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url

# table → privileges, for the worker role. Keep in step with what shared/items, shared/lifecycle,
# shared/ledger, shared/notify, shared/suppression and worker/heartbeat touch;
# tests/shared/test_db_roles.py sends through a real worker job with exactly these grants.
WORKER_GRANTS: dict[str, tuple[str, ...]] = {
    "alembic_version": ("SELECT",),
    "send_items": ("SELECT", "UPDATE"),
    "send_attempts": ("SELECT", "INSERT", "UPDATE"),
    "reservations": ("SELECT", "UPDATE"),
    "reservation_status_changes": ("SELECT", "INSERT"),
    # a reservation that ends (completed, auto-cancelled) closes its pending additions
    "reservation_additions": ("SELECT", "UPDATE"),
    "scripts": ("SELECT",),
    # The ledger locks the member's row (SELECT … FOR UPDATE), which PostgreSQL allows only to
    # a role that may update some column: the id, which nothing ever changes.
    "members": ("SELECT", "UPDATE (id)"),
    "ticket_ledger": ("SELECT", "INSERT"),
    "member_contacts": ("SELECT", "INSERT"),
    "suppressions": ("SELECT", "INSERT", "UPDATE"),
    "notifications": ("SELECT", "INSERT", "UPDATE"),
    "fleet_workers": ("SELECT", "INSERT", "UPDATE", "DELETE"),
}


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain SQL name: {name!r}")
    return f'"{name}"'


def worker_role_sql(role: str, password: str, database_url: str) -> list[str]:
    """The statements that create (or update) ``role`` with exactly the worker's rights."""
    database = make_url(database_url).database or "mikomi"
    quoted_password = password.replace("'", "''")
    r = _ident(role)
    statements = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') "
        f"THEN CREATE ROLE {r} LOGIN; END IF; END $$",
        f"ALTER ROLE {r} LOGIN PASSWORD '{quoted_password}' NOSUPERUSER NOCREATEDB NOCREATEROLE",
        f"GRANT CONNECT ON DATABASE {_ident(database)} TO {r}",
        f"GRANT USAGE ON SCHEMA public TO {r}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {r}",
    ]
    for table, privileges in WORKER_GRANTS.items():
        statements.append(f"GRANT {', '.join(privileges)} ON {_ident(table)} TO {r}")
    # Inserts take ids from the tables' sequences.
    statements.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {r}")
    return statements
