"""Do-not-contact checks shared by the coordinator and the workers (docs/rules.md#suppression).

A domain is suppressed for a member when it is on the global list (``member_id`` NULL: opt-outs,
refusals, complaints) or on that member's own NG list. Both are checked before dispatch and
again right before submit, so these functions take a session and never commit.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.domains import normalize_domain
from shared.models import Suppression

__all__ = ["SuppressionReason", "is_suppressed", "suppress", "unsuppress"]


class SuppressionReason:
    """The stable words of ``suppressions.reason``."""

    OPTOUT = "optout"
    REFUSED_SALES = "refused_sales"
    COMPLAINT = "complaint"
    NG = "ng"
    MANUAL = "manual"


def is_suppressed(db: Session, domain: str | None, member_id: int | None) -> bool:
    """True when ``domain`` is on the global list or on ``member_id``'s NG list."""
    normalized = normalize_domain(domain) if domain else None
    if normalized is None:
        return False
    scope: ColumnElement[bool] = Suppression.member_id.is_(None)
    if member_id is not None:
        scope = or_(scope, Suppression.member_id == member_id)
    row = db.execute(
        select(Suppression.id).where(Suppression.domain == normalized, scope).limit(1)
    ).first()
    return row is not None


def _find(db: Session, domain: str, member_id: int | None) -> Suppression | None:
    scope = (
        Suppression.member_id.is_(None) if member_id is None else Suppression.member_id == member_id
    )
    return db.scalars(select(Suppression).where(Suppression.domain == domain, scope)).first()


def suppress(
    db: Session,
    domain: str,
    *,
    reason: str,
    member_id: int | None = None,
    note: str = "",
) -> Suppression:
    """Put ``domain`` on the global list (``member_id`` None) or on a member's NG list.

    Idempotent: an existing entry is returned unchanged. Raises ``ValueError`` when ``domain``
    does not normalize to a host name.
    """
    normalized = normalize_domain(domain)
    if normalized is None:
        raise ValueError(f"not a domain: {domain!r}")
    existing = _find(db, normalized, member_id)
    if existing is not None:
        return existing
    row = Suppression(domain=normalized, member_id=member_id, reason=reason, note=note[:300])
    # A concurrent writer may insert the same entry (the unique constraint covers member lists;
    # NULL member_id rows are guarded by this check): keep the transaction usable either way.
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        found = _find(db, normalized, member_id)
        if found is None:
            raise
        return found
    return row


def unsuppress(db: Session, domain: str, *, member_id: int | None = None) -> bool:
    """Remove ``domain`` from the global list or a member's NG list; True when it was there."""
    normalized = normalize_domain(domain)
    if normalized is None:
        return False
    existing = _find(db, normalized, member_id)
    if existing is None:
        return False
    db.delete(existing)
    db.flush()
    return True
