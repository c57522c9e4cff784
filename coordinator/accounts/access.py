"""Who may see which row: the one rule behind every read, and every command, that names a row
of a member (a reservation, its items, an order, a script, a notification) by its id.

An operator sees every member's rows; a member sees the rows of its own member id and no
other. A row of another member is "not found" (404), never "forbidden": ids reveal nothing.
Lists apply the same rule as a filter (:func:`member_scope`)."""

from __future__ import annotations

from typing import Protocol, TypeVar

from coordinator.accounts.service import Principal
from coordinator.errors import Forbidden, NotFound


class MemberRow(Protocol):
    @property
    def member_id(self) -> int | None: ...


Row = TypeVar("Row", bound=MemberRow)


def may_see(principal: Principal, member_id: int | None) -> bool:
    """True when ``principal`` may see a row that belongs to ``member_id``."""
    return principal.is_operator or (member_id is not None and member_id == principal.member_id)


def visible(principal: Principal, row: Row | None, what: str) -> Row:
    """``row`` if ``principal`` may see it; else (or when there is none) NotFound(``what``)."""
    if row is None or not may_see(principal, row.member_id):
        raise NotFound(what)
    return row


def own(principal: Principal, row: Row | None, what: str) -> Row:
    """``row`` if it belongs to ``principal``'s own member (what only its member may change,
    operators included: an operator edits no member's script or NG list through these)."""
    if row is None or row.member_id is None or row.member_id != principal.member_id:
        raise NotFound(what)
    return row


def member_scope(principal: Principal, member_id: int | None = None) -> int | None:
    """The member whose rows a list shows: a member's own, whatever it asked for; an
    operator's choice, ``None`` meaning every member's."""
    return member_id if principal.is_operator else principal.member_id


def member_id_of(principal: Principal) -> int:
    """The member a member-only action acts for; refused for a user of no member (operators)."""
    if principal.member_id is None:
        raise Forbidden("会員のみが利用できます")
    return principal.member_id


def operator_only(principal: Principal) -> Principal:
    """``principal`` if it is an operator; refused otherwise."""
    if not principal.is_operator:
        raise Forbidden("運営のみが利用できます")
    return principal
