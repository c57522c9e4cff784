"""SQLAlchemy 2 typed models: the database is the ledger of everything Mikomi does.

One module, although it is long, because it is one thing: the schema. Its tables refer to
each other by foreign key across every domain, the migrations are checked against this one
metadata, and reading it top to bottom is how one learns what is stored."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from shared import clock


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use shared.clock.now()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


def _ts() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=clock.now, nullable=False)


# --- accounts -------------------------------------------------------------------------------


class Member(Base):
    """A member company (会員)."""

    __tablename__ = "members"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_name: Mapped[str] = mapped_column(String(200))
    # 送信時間帯 offered on the reservation form (shared.send_window; None: any time).
    default_send_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _ts()
    users: Mapped[list[User]] = relationship(back_populates="member")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # shared.enums.Role
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = _ts()
    member: Mapped[Member | None] = relationship(back_populates="users")


class AuthToken(Base):
    """Bearer tokens and browser sessions; only a hash of the secret is stored."""

    __tablename__ = "auth_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # "api" | "session"
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = _ts()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- tickets --------------------------------------------------------------------------------


class TicketOrder(Base):
    """メール送信申込: a purchase of sending tickets."""

    __tablename__ = "ticket_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    company_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_jpy: Mapped[int] = mapped_column(Integer)
    payment_method: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    applied_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    paid_on: Mapped[date | None] = mapped_column(Date)
    payment_reference: Mapped[str] = mapped_column(String(100), default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _ts()
    # Card payments (docs/rules.md#payments): the gateway that took it (shared.enums
    # .PaymentGatewayName), its Checkout Session and PaymentIntent, and where it stands there.
    gateway: Mapped[str] = mapped_column(String(20), default="", server_default="")
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    checkout_url: Mapped[str | None] = mapped_column(Text)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255), index=True)
    gateway_status: Mapped[str] = mapped_column(String(30), default="", server_default="")
    refund_reference: Mapped[str] = mapped_column(String(255), default="", server_default="")
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PaymentEvent(Base):
    """A gateway event (a Stripe webhook) applied once: its id is the idempotency key."""

    __tablename__ = "payment_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_orders.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = _ts()


class TicketLedgerEntry(Base):
    """Append-only ticket ledger: available = credited − consumed − held."""

    __tablename__ = "ticket_ledger"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # shared.enums.LedgerKind
    quantity: Mapped[int] = mapped_column(Integer)  # always positive; kind gives the sign
    order_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_orders.id"))
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"), index=True)
    addition_id: Mapped[int | None] = mapped_column(ForeignKey("reservation_additions.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("send_items.id"))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = _ts()


# --- scripts --------------------------------------------------------------------------------


class Script(Base):
    """A member's message script (docs/rules.md#scripts): sender profile + message."""

    __tablename__ = "scripts"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content: Mapped[dict[str, Any]] = mapped_column(JSON)  # the script JSON: docs/rules.md#scripts
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- prospects and suppression ---------------------------------------------------------------


def prospect_search_text(company: str, company_kana: str, industry: str, city: str) -> str:
    """What a keyword is matched against: NFKC, lower case, one string (see prospects.search)."""
    joined = " ".join(part for part in (company, company_kana, industry, city) if part)
    return unicodedata.normalize("NFKC", joined).lower()


def _search_text_default(context: Any) -> str:
    params = context.get_current_parameters()
    return prospect_search_text(
        params.get("company") or "",
        params.get("company_kana") or "",
        params.get("industry") or "",
        params.get("city") or "",
    )


def prospect_fingerprint(
    domain: str | None, company: str, prefecture: str, city: str, address: str, phone: str
) -> str | None:
    """What identifies a prospect without a URL: a digest of its company, prefecture, city,
    address and phone, each NFKC with spaces and hyphens removed, so that importing the same
    row again finds it. ``None`` for a prospect with a domain (the domain identifies it)."""
    if domain is not None:
        return None
    parts = []
    for part in (company, prefecture, city, address, phone):
        folded = unicodedata.normalize("NFKC", part or "").lower()
        parts.append("".join(ch for ch in folded if not ch.isspace() and ch not in "-‐−ー―"))
    return hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()


def _fingerprint_default(context: Any) -> str | None:
    params = context.get_current_parameters()
    if params.get("corporate_number"):
        return None  # the corporate number identifies it
    return prospect_fingerprint(
        params.get("domain"),
        params.get("company") or "",
        params.get("prefecture") or "",
        params.get("city") or "",
        params.get("address") or "",
        params.get("phone") or "",
    )


_HAS_URL = text("domain IS NOT NULL")
_HAS_FINGERPRINT = text("fingerprint IS NOT NULL")
_HAS_NUMBER = text("corporate_number IS NOT NULL")


class Prospect(Base):
    """A company of the prospect list (見込客リスト)."""

    __tablename__ = "prospects"
    # The typical searches: URL有り with prefecture/industry (and an employee range), URL有り with
    # an employee range (and a prefecture). Partial indexes on "has a URL" let counts run on
    # the index alone.
    __table_args__ = (
        Index(
            "ix_prospects_url_pref_industry",
            "prefecture",
            "industry",
            "employees",
            sqlite_where=_HAS_URL,
            postgresql_where=_HAS_URL,
        ),
        Index(
            "ix_prospects_url_employees",
            "employees",
            "prefecture",
            sqlite_where=_HAS_URL,
            postgresql_where=_HAS_URL,
        ),
        Index(
            "ix_prospects_url_pref_employees",
            "prefecture",
            "employees",
            sqlite_where=_HAS_URL,
            postgresql_where=_HAS_URL,
        ),
        # Keyword hits checked for URL有り without reading the rows.
        Index("ix_prospects_url_id", "id", sqlite_where=_HAS_URL, postgresql_where=_HAS_URL),
        # Only the rows without a URL have one; the others stay out of the index.
        Index(
            "ix_prospects_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=_HAS_FINGERPRINT,
            postgresql_where=_HAS_FINGERPRINT,
        ),
        # The 法人番号: the identity of a registry row (a company without one has none).
        Index(
            "ix_prospects_corporate_number",
            "corporate_number",
            unique=True,
            sqlite_where=_HAS_NUMBER,
            postgresql_where=_HAS_NUMBER,
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    company: Mapped[str] = mapped_column(String(300))
    company_kana: Mapped[str] = mapped_column(String(300), default="")
    url: Mapped[str] = mapped_column(String(1000), default="")
    domain: Mapped[str | None] = mapped_column(String(255), unique=True)
    fingerprint: Mapped[str | None] = mapped_column(String(40), default=_fingerprint_default)
    industry: Mapped[str] = mapped_column(String(100), default="", index=True)
    prefecture: Mapped[str] = mapped_column(String(10), default="", index=True)
    city: Mapped[str] = mapped_column(String(100), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    employees: Mapped[int | None] = mapped_column(Integer, index=True)
    capital: Mapped[int | None] = mapped_column(BigInteger, index=True)
    founded: Mapped[int | None] = mapped_column(Integer)
    tags: Mapped[str] = mapped_column(String(500), default="")
    search_text: Mapped[str] = mapped_column(Text, default=_search_text_default)
    created_at: Mapped[datetime] = _ts()
    # 法人番号 (13 digits): the company's identity where known (docs/rules.md#prospects).
    corporate_number: Mapped[str | None] = mapped_column(String(13))
    # The registry says the corporation is closed (閉鎖, merged away, erased): kept, never queued.
    closed_at: Mapped[date | None] = mapped_column(Date)
    # The registry's update date of the row last applied (an older file never overwrites it).
    registry_updated: Mapped[date | None] = mapped_column(Date)


# Pieces of the legal forms are in nearly every name: indexing them would narrow nothing.
STOP_GRAMS = frozenset(
    w[i : i + 2]
    for w in ("株式会社", "有限会社", "合同会社", "合資会社", "合名会社", "(株)", "(有)")
    for i in range(len(w) - 1)
)
# Their characters are not keys of PostgreSQL's index either (a one-character term of one of
# them is checked as a substring).
STOP_CHARACTERS = frozenset("".join(STOP_GRAMS))


def prospect_grams(search_text: str) -> set[str]:
    """The 2-character pieces of ``search_text`` (never across the spaces between its words),
    less the pieces of legal forms (株式会社 …)."""
    return {
        word[i : i + 2] for word in search_text.split() for i in range(len(word) - 1)
    } - STOP_GRAMS


def prospect_keys(search_text: str) -> set[str]:
    """The keys of a prospect in PostgreSQL's keyword index (``prospect_keyword_blocks``, kept
    by the triggers of migration 0010, which cut the same keys in SQL): its 2-character pieces
    and each word's last character, less the legal-form ones."""
    keys = {word[i : i + 2] for word in search_text.split() for i in range(len(word))}
    return keys - STOP_GRAMS - STOP_CHARACTERS


# The keyword index follows the search text by triggers on both engines (SQLite: FTS5,
# shared/keyword_index.py; PostgreSQL: migration 0010); the ORM only keeps the text itself.
@event.listens_for(Prospect, "before_update")
def _search_text_before_update(_mapper: Any, _connection: Connection, target: Prospect) -> None:
    target.search_text = prospect_search_text(
        target.company or "", target.company_kana or "", target.industry or "", target.city or ""
    )


class Suppression(Base):
    """Do-not-contact: member_id NULL is the global list, otherwise a member's NG list."""

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("domain", "member_id"),
        # NULLs are distinct in a unique constraint: the global list needs its own.
        Index(
            "uq_suppressions_global_domain",
            "domain",
            unique=True,
            sqlite_where=text("member_id IS NULL"),
            postgresql_where=text("member_id IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    reason: Mapped[str] = mapped_column(String(50))  # optout | refused_sales | complaint | ng
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = _ts()


# --- reservations ---------------------------------------------------------------------------


class Reservation(Base):
    """予約代行: a member's reservation of `count` sends with a script and a list."""

    __tablename__ = "reservations"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    script_id: Mapped[int] = mapped_column(ForeignKey("scripts.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    list_query: Mapped[str] = mapped_column(Text)  # the list URL's query string
    count: Mapped[int] = mapped_column(Integer)
    senders: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), index=True)
    # Counters change in the same transaction as the item they count.
    queued: Mapped[int] = mapped_column(Integer, default=0)
    in_flight: Mapped[int] = mapped_column(Integer, default=0)
    sent: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    in_doubt: Mapped[int] = mapped_column(Integer, default=0)
    list_notice_active: Mapped[bool] = mapped_column(Boolean, default=False)
    send_window: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _ts()
    updated_at: Mapped[datetime] = _ts()
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    paused_by: Mapped[str | None] = mapped_column(String(10))  # PausedBy while paused
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A/B (docs/rules.md#responses): a second script; items alternate between the two.
    script_b_id: Mapped[int | None] = mapped_column(ForeignKey("scripts.id"))
    # 反響 counters (docs/rules.md#responses), changed with the response they count.
    auto_replies: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replies: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    refusals: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ReservationStatusChange(Base):
    __tablename__ = "reservation_status_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(String(300), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReservationAddition(Base):
    """予約数を追加: takes effect (and holds tickets) only when an operator approves it."""

    __tablename__ = "reservation_additions"
    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _ts()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ListTransfer(Base):
    """送信代行: prospects of a search moved into a reservation's queue."""

    __tablename__ = "list_transfers"
    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    list_query: Mapped[str] = mapped_column(Text)
    requested: Mapped[int] = mapped_column(Integer)
    added: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _ts()


class SendItem(Base):
    """One prospect of a reservation's queue, through docs/architecture.md#the-item-state-machine."""

    __tablename__ = "send_items"
    __table_args__ = (
        Index("ix_send_items_reservation_state", "reservation_id", "state"),
        Index("ix_send_items_state_lease", "state", "lease_expires_at"),
        # Per-domain politeness (docs/rules.md#per-domain-politeness) held by the database itself: at most one item per
        # domain in flight across the whole fleet, whatever the dispatchers do.
        Index(
            "uq_send_items_domain_in_flight",
            "domain",
            unique=True,
            sqlite_where=text("state IN ('dispatched', 'running', 'submitting')"),
            postgresql_where=text("state IN ('dispatched', 'running', 'submitting')"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id"), index=True)
    domain: Mapped[str] = mapped_column(String(255), index=True)
    url: Mapped[str] = mapped_column(String(1000))
    company: Mapped[str] = mapped_column(String(300))
    state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(30))
    attempt_token: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A queued item retried after a failure before submitting waits until then (backoff).
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(100))
    optout_token: Mapped[str] = mapped_column(String(64), unique=True)
    contact_url: Mapped[str | None] = mapped_column(String(1000))
    final_url: Mapped[str | None] = mapped_column(String(1000))
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _ts()
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    submitting_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The script this item is sent with when it differs from the reservation's (A/B).
    script_id: Mapped[int | None] = mapped_column(ForeignKey("scripts.id"))
    # The item's own reply address r-<reply_token>@MIKOMI_REPLY_DOMAIN (docs/rules.md#responses).
    reply_token: Mapped[str | None] = mapped_column(String(32), unique=True)
    first_click_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Response(Base):
    """A mail received for an item's reply address: 自動返信, a reply, or a bounce."""

    __tablename__ = "responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("send_items.id"), index=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # auto_reply | reply | bounce
    refusal: Mapped[bool] = mapped_column(Boolean, default=False)
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(500), default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    message_id: Mapped[str] = mapped_column(String(500), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrackedLink(Base):
    """A URL of an item's message rewritten to <public base>/r/<token> (track_clicks)."""

    __tablename__ = "tracked_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("send_items.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    first_click_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class MemberContact(Base):
    """A member's message reached (or may have reached) this domain: never again.

    Written in the same transaction that moves an item to ``submitting``; the unique constraint
    is the last line of defence against a second send.
    """

    __tablename__ = "member_contacts"
    __table_args__ = (UniqueConstraint("member_id", "domain"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    domain: Mapped[str] = mapped_column(String(255))
    prospect_id: Mapped[int | None] = mapped_column(ForeignKey("prospects.id"))
    item_id: Mapped[int | None] = mapped_column(ForeignKey("send_items.id"))
    created_at: Mapped[datetime] = _ts()


class SendAttempt(Base):
    """One try of an item by a worker (an item may be retried before submitting)."""

    __tablename__ = "send_attempts"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("send_items.id"), index=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    attempt_token: Mapped[str] = mapped_column(String(64))
    worker_id: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    elapsed_ms: Mapped[int | None] = mapped_column(Integer)


class FleetWorker(Base):
    """A worker process's heartbeat, for the fleet view."""

    __tablename__ = "fleet_workers"
    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    current_item_id: Mapped[int | None] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="idle")
    sends: Mapped[int] = mapped_column(Integer, default=0)
    # Browser slots the process offers now and how many are busy (worker/slots.py).
    slots: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    slots_in_use: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# --- chat and notifications -------------------------------------------------------------------


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    reservation_id: Mapped[int] = mapped_column(ForeignKey("reservations.id"), index=True)
    author_user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _ts()


class Notification(Base):
    """In-app notification; ``emailed_at`` is set once the e-mail went out."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    # NULL member_id with for_operators=True: shown to every operator.
    for_operators: Mapped[bool] = mapped_column(Boolean, default=False)
    reservation_id: Mapped[int | None] = mapped_column(ForeignKey("reservations.id"))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = _ts()
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ImportJob(Base):
    """A prospect CSV import, with its progress and its row-level report."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    filename: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="csv", server_default="csv")  # | registry
    # A registry import: the file's identity (size and digest of its start) and where, in its
    # decompressed bytes, the last committed batch ended, so running it again resumes there.
    source_key: Mapped[str | None] = mapped_column(String(100), index=True)
    resume_offset: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(20))  # running | done | failed
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[list[Any] | None] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = _ts()
    # Set at the start and at every committed batch: a running job whose progress stops
    # moving was cut off (a restart), and the sweeper marks it failed.
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def failure_reason(self) -> str | None:
        """Why a failed job stopped: its last report entry about the whole file (no line)."""
        if self.status != "failed":
            return None
        fatal = [e for e in self.report or [] if e.get("line") is None]
        return str(fatal[-1]["reason"]) if fatal else None
