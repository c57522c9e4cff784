"""Accounts: members, users, password hashing, tokens and browser sessions.

Only a SHA-256 hash of each token is stored, so a leaked table opens no account."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from coordinator.accounts.ratelimit import LoginLimiter
from coordinator.errors import AppError, NotFound, Unauthorized
from shared import clock
from shared.enums import Role
from shared.models import AuthToken, Member, User

TOKEN_KINDS = ("api", "session")
API_TOKEN_TTL = timedelta(days=30)
SESSION_TTL = timedelta(hours=12)

_hasher = PasswordHasher()


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Swap the argon2 parameters. Production keeps argon2-cffi's defaults; a test session may
    install cheap ones (e.g. ``PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)``),
    since every test user costs one hash. Hashes made with other parameters still verify and
    are upgraded on the next login."""
    global _hasher
    _hasher = hasher


@dataclass(frozen=True)
class Principal:
    user_id: int
    role: Role
    member_id: int | None
    email: str
    name: str
    csrf_token: str = ""
    via_cookie: bool = False

    @property
    def is_operator(self) -> bool:
        return self.role == Role.OPERATOR


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(
    db: Session,
    *,
    email: str,
    password: str,
    role: Role,
    company: str | None = None,
    name: str = "",
) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise AppError("invalid_email", "メールアドレスの形式が正しくありません", field="email")
    _check_password(password)
    if db.scalar(select(User).where(User.email == email)):
        raise AppError(
            "email_taken",
            "このメールアドレスは既に登録されています",
            field="email",
            status_code=409,
        )
    member_id = None
    if role == Role.MEMBER:
        if not company:
            raise AppError("company_required", "会員には会社名が必要です", field="company")
        member = Member(company_name=company)
        db.add(member)
        db.flush()
        member_id = member.id
    user = User(
        email=email,
        password_hash=hash_password(password),
        role=role.value,
        member_id=member_id,
        name=name,
    )
    db.add(user)
    db.flush()
    return user


def _check_password(password: str) -> None:
    if len(password) < 8:
        raise AppError(
            "password_too_short", "パスワードは8文字以上にしてください", field="password"
        )


def user_by_email(db: Session, email: str) -> User:
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound("ユーザーが見つかりません")
    return user


def list_users(db: Session) -> list[User]:
    return list(db.scalars(select(User).order_by(User.id)))


def set_password(db: Session, email: str, password: str) -> User:
    """A new password; every session and token of the user ends (whoever held them)."""
    _check_password(password)
    user = user_by_email(db, email)
    user.password_hash = hash_password(password)
    revoke_all_tokens(db, user.id)
    db.flush()
    return user


def set_active(db: Session, email: str, active: bool) -> User:
    """Disable (logged out everywhere, logins refused) or enable a user."""
    user = user_by_email(db, email)
    user.is_active = active
    if not active:
        revoke_all_tokens(db, user.id)
    db.flush()
    return user


def purge_expired_tokens(db: Session, now: datetime | None = None) -> int:
    """Delete sessions and API tokens past their expiry as of ``now`` (the sweeper's job)."""
    cutoff = now or clock.now()
    result = db.execute(delete(AuthToken).where(AuthToken.expires_at <= cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


def authenticate(db: Session, email: str, password: str) -> User:
    user = db.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.is_active:
        # Spend the same time as a real check so that timing does not reveal accounts.
        _hasher.hash(password)
        raise Unauthorized("メールアドレスまたはパスワードが正しくありません")
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise Unauthorized("メールアドレスまたはパスワードが正しくありません") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def issue_token(db: Session, user: User, kind: str = "api") -> tuple[str, AuthToken]:
    token = secrets.token_urlsafe(32)
    ttl = API_TOKEN_TTL if kind == "api" else SESSION_TTL
    row = AuthToken(
        user_id=user.id,
        token_hash=_token_hash(token),
        kind=kind,
        csrf_token=secrets.token_urlsafe(24),
        expires_at=clock.now() + ttl,
    )
    db.add(row)
    db.flush()
    return token, row


def revoke_token(db: Session, token: str) -> None:
    db.execute(delete(AuthToken).where(AuthToken.token_hash == _token_hash(token)))


def revoke_all_tokens(db: Session, user_id: int) -> int:
    """Log a user out everywhere (every API token and browser session)."""
    result = db.execute(delete(AuthToken).where(AuthToken.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Login:
    token: str
    csrf_token: str
    user: User
    expires_at: datetime


def login(
    db: Session,
    email: str,
    password: str,
    *,
    kind: str,
    client_ip: str | None,
    limiter: LoginLimiter,
    replaces: str | None = None,
) -> Login:
    """Check the password under the login rate limit and issue a token of ``kind``
    (``api`` for the bearer API, ``session`` for the browser cookie).

    Every failure counts against the (e-mail, client IP) pair and the client IP; a success
    clears the pair's count (the IP's stays, so one address cannot be used to reset an IP's
    guesses). Nothing counts against the e-mail alone: see ratelimit.py.
    """
    if kind not in TOKEN_KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    keys = limiter.keys(email, client_ip)
    limiter.check(keys)
    try:
        user = authenticate(db, email, password)
    except Unauthorized:
        limiter.record_failure(keys)
        raise
    limiter.clear(keys[0])
    if replaces:
        # A new session gets a new id: the browser's previous session (a fixed or stolen
        # cookie) ends here; the user's other sessions and tokens are left alone.
        revoke_token(db, replaces)
    token, row = issue_token(db, user, kind)
    return Login(token=token, csrf_token=row.csrf_token, user=user, expires_at=row.expires_at)


def logout(
    db: Session, token: str, *, everywhere: bool = False, user_id: int | None = None
) -> None:
    """Revoke the presented token, or every token of its user with ``everywhere``."""
    if everywhere and user_id is not None:
        revoke_all_tokens(db, user_id)
    else:
        revoke_token(db, token)


def resolve_token(db: Session, token: str, kind: str) -> Principal | None:
    row = db.scalar(
        select(AuthToken).where(AuthToken.token_hash == _token_hash(token), AuthToken.kind == kind)
    )
    if row is None or row.expires_at <= clock.now():
        return None
    user = db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return Principal(
        user_id=user.id,
        role=Role(user.role),
        member_id=user.member_id,
        email=user.email,
        name=user.name,
        csrf_token=row.csrf_token,
        via_cookie=kind == "session",
    )


def members(db: Session) -> list[Member]:
    """Every member company, in the order they joined."""
    return list(db.scalars(select(Member).order_by(Member.id)))


def company_name(db: Session, member_id: int | None) -> str:
    member = db.get(Member, member_id) if member_id is not None else None
    return member.company_name if member else ""
