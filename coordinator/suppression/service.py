"""The global do-not-contact list (operators), members' NG lists, and the public opt-out."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from coordinator.accounts import access
from coordinator.accounts.service import Principal
from coordinator.errors import NotFound
from coordinator.suppression import repository
from coordinator.suppression.errors import InvalidDomain, InvalidReason, NgImportTooLarge
from coordinator.suppression.schemas import SuppressionList, SuppressionOut
from shared import suppression
from shared.domains import normalize_domain
from shared.models import SendItem, Suppression

MAX_OPTOUT_TOKEN = 64


def _domain(value: str) -> str:
    domain = normalize_domain(value)
    if domain is None:
        raise InvalidDomain(value)
    return domain


def _list(db: Session, member_id: int | None, contains: str, page: int) -> SuppressionList:
    per_page = 200
    total, rows = repository.list_entries(
        db, member_id, contains=contains.strip().lower(), limit=per_page,
        offset=(max(page, 1) - 1) * per_page,
    )  # fmt: skip
    return SuppressionList(total=total, items=[SuppressionOut.model_validate(r) for r in rows])


# --- global list (operators) -----------------------------------------------------------------


def list_global(db: Session, *, contains: str = "", page: int = 1) -> SuppressionList:
    return _list(db, None, contains, page)


def add_global(db: Session, domain: str, *, reason: str, note: str = "") -> SuppressionOut:
    entry = suppression.suppress(db, _domain(domain), reason=reason, note=note)
    return SuppressionOut.model_validate(entry)


def remove_global(db: Session, entry_id: int) -> None:
    entry = repository.get_entry(db, entry_id)
    if entry is None or entry.member_id is not None:
        raise NotFound("配信停止リストの登録")
    db.delete(entry)
    db.flush()


# --- every list at once (the operators' page) -------------------------------------------------

# What an operator may give as the reason of an entry, on the global list or a member's.
REASONS = (
    suppression.SuppressionReason.OPTOUT,
    suppression.SuppressionReason.REFUSED_SALES,
    suppression.SuppressionReason.COMPLAINT,
    suppression.SuppressionReason.NG,
    suppression.SuppressionReason.MANUAL,
)


def every_entry(
    db: Session, *, contains: str = "", limit: int = 200, offset: int = 0
) -> tuple[int, list[Suppression]]:
    """A page of the global list and of every member's NG list together, newest first, with
    how many match; ``contains``: part of a domain."""
    return repository.list_entries(
        db, repository.EVERY_LIST, contains=contains.strip().lower(), limit=limit, offset=offset
    )


def add(
    db: Session, domain: str, *, reason: str, member_id: int | None = None, note: str = ""
) -> SuppressionOut:
    """An operator puts a domain on the global list or on a member's NG list."""
    if reason not in REASONS:
        raise InvalidReason(reason)
    entry = suppression.suppress(db, _domain(domain), reason=reason, member_id=member_id, note=note)
    return SuppressionOut.model_validate(entry)


def remove(db: Session, domain: str, *, member_id: int | None = None) -> bool:
    """An operator takes a domain off the global list or a member's NG list."""
    return suppression.unsuppress(db, domain, member_id=member_id)


# --- a member's NG list ----------------------------------------------------------------------


def list_ng(
    db: Session, principal: Principal, *, contains: str = "", page: int = 1
) -> SuppressionList:
    assert principal.member_id is not None
    return _list(db, principal.member_id, contains, page)


def add_ng(db: Session, principal: Principal, domain: str, *, note: str = "") -> SuppressionOut:
    assert principal.member_id is not None
    entry = suppression.suppress(
        db, _domain(domain), reason=suppression.SuppressionReason.NG,
        member_id=principal.member_id, note=note,
    )  # fmt: skip
    return SuppressionOut.model_validate(entry)


# The NG list as a CSV file: one domain (or URL) per row, with an optional note.
NG_CSV_HEADER = ("domain", "note", "created_at")
MAX_NG_IMPORT_ROWS = 10_000


@dataclass(frozen=True)
class NgImport:
    added: int  # new entries
    kept: int  # already on the list
    rejected: list[tuple[int, str]]  # (line, value) that is no domain


def import_ng(db: Session, principal: Principal, text: str) -> NgImport:
    """Add every domain of a CSV file (a ``domain`` column, or the first column; an optional
    ``note``) to the member's NG list; a header row and empty rows are skipped."""
    member_id = access.member_id_of(principal)
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    if len(rows) > MAX_NG_IMPORT_ROWS + 1:
        raise NgImportTooLarge(MAX_NG_IMPORT_ROWS)
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    has_header = "domain" in header
    domain_at = header.index("domain") if has_header else 0
    note_at = header.index("note") if has_header and "note" in header else None
    before = repository.list_entries(db, member_id, limit=0)[0]
    rejected: list[tuple[int, str]] = []
    seen = 0
    for line, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        value = row[domain_at].strip() if len(row) > domain_at else ""
        if not value:
            continue
        note = row[note_at].strip() if note_at is not None and len(row) > note_at else ""
        try:
            add_ng(db, principal, value, note=note)
        except InvalidDomain:
            rejected.append((line, value[:100]))
            continue
        seen += 1
    added = repository.list_entries(db, member_id, limit=0)[0] - before
    return NgImport(added=added, kept=seen - added, rejected=rejected)


def ng_csv_batches(db: Session, principal: Principal) -> Iterator[list[tuple[object, ...]]]:
    """The member's whole NG list in batches of CSV rows (NG_CSV_HEADER), newest first."""
    member_id = access.member_id_of(principal)
    offset = 0
    while True:
        _, rows = repository.list_entries(db, member_id, limit=1_000, offset=offset)
        if not rows:
            return
        yield [(r.domain, r.note, r.created_at.isoformat()) for r in rows]
        offset += len(rows)


def remove_ng(db: Session, principal: Principal, entry_id: int) -> None:
    entry = access.own(principal, repository.get_entry(db, entry_id), "NGドメイン")
    db.delete(entry)
    db.flush()


# --- the public opt-out link -----------------------------------------------------------------


def find_opt_out(db: Session, token: str) -> SendItem | None:
    """The item an opt-out link belongs to, or None for an unknown token; changes nothing."""
    if not token or len(token) > MAX_OPTOUT_TOKEN:
        return None
    return repository.item_by_optout_token(db, token)


def opt_out(db: Session, token: str) -> SendItem | None:
    """Confirm an opt-out link: the item's domain goes on the global list for good (idempotent).
    Returns the item, or None for an unknown token."""
    item = find_opt_out(db, token)
    if item is None:
        return None
    suppression.suppress(
        db, item.domain, reason=suppression.SuppressionReason.OPTOUT,
        note=f"配信停止リンク（送信 {item.id}）",
    )  # fmt: skip
    return item
