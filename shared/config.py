"""The one settings class of Mikomi (environment prefix ``MIKOMI_``)."""

from __future__ import annotations

import os
import re
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_var_dir() -> Path:
    return PROJECT_ROOT / "var"


def _find_browser() -> str:
    # The headless shell costs far less CPU per page than the full browser; its /usr/bin entry
    # is a shell wrapper, so call the binary itself.
    if Path("/usr/lib/chromium/chromium-headless-shell").exists():
        return "/usr/lib/chromium/chromium-headless-shell"
    for name in ("chromium-headless-shell", "chromium"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MIKOMI_", env_file=None, extra="ignore")

    var_dir: Path = _default_var_dir()
    # Empty means the embedded default: SQLite under var_dir.
    database_url: str = ""
    # PostgreSQL ends a session left idle inside a transaction this long (0: never). A host that
    # loses its link mid-transaction would otherwise hold its row locks (a reservation's, an
    # item's) until the server's TCP keepalive gives up, hours later, and every other host would
    # wait behind them (docs/operations.md#several-machines).
    db_idle_in_transaction_s: float = 60.0
    # The other side of it: how long this process waits on a link to the database or to Redis
    # that has gone silent (TCP keepalive and user timeout) before the call fails, instead of
    # the kernel's retransmissions (about 15 minutes) or, for a blocking read, for ever
    # (docs/operations.md#settings).
    link_timeout_s: float = 60.0
    # Empty means "start a redis-server of our own" (make run / mikomi up); tools that only
    # connect fall back to the local default port.
    redis_url: str = ""

    # Workers may reach loopback and private addresses: for the demo and the tests only, and
    # refused at the start of every service unless ``demo`` is on too (docs/operations.md#settings).
    allow_private: bool = False
    # The demo (``make run``): demo sites and accounts, every page says デモ.
    demo: bool = False
    # The network guard's test network (the hostile-site corpus runs with the guard on):
    # addresses it counts as public ("127.0.0.1" for the fixture server) and names it resolves
    # without DNS ("*.localhost=127.0.0.1,intranet.hostile.test=127.0.0.3"). Like
    # allow_private, refused at the start of every service unless ``demo`` is on too.
    guard_test_public: str = ""
    guard_test_hosts: str = ""
    browser_path: str = ""
    fleet_max_senders: int = 16

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "noreply@mikomi.local"

    public_base_url: str = "http://127.0.0.1:8000"

    # 反響 (docs/rules.md#responses): the domain of the items' reply addresses
    # r-<token>@<reply_domain> (empty: no reply addresses, no mailin), and the largest message
    # `mikomi mailin` accepts (bytes; larger ones are refused at SMTP time).
    reply_domain: str = ""
    mailin_max_bytes: int = 1_000_000
    # mailin offers STARTTLS with this certificate chain and key (PEM files) when both are set.
    mailin_tls_cert: str = ""
    mailin_tls_key: str = ""

    # Sending limits
    page_timeout_ms: int = 15000
    send_timeout_s: float = 90.0
    max_page_bytes: int = 5_000_000
    # The browser-free first look (worker/first_look.py): a prospect whose static HTML settles
    # the send (dead host, HTTP error, CAPTCHA, refusal, no contact link) ends without a browser.
    first_look: bool = True
    lease_seconds: int = 120

    # Where screenshots go: file:///path (default var/evidence) or s3://bucket/prefix
    # (shared/evidence_store.py); an S3-compatible store's address, if not AWS itself.
    evidence_url: str = ""
    s3_endpoint_url: str = ""

    # GET /metrics asks for this bearer token when it is set (docs/operations.md#metrics).
    metrics_token: str = ""
    # text | json: the format of every service's log lines (shared/logs.py).
    log_format: str = "text"
    # A worker process silent this long (no tick from its liveness thread) is killed and replaced.
    worker_stall_seconds: float = 60.0
    # Browser slots (sends at once) of each worker process, adapted between these bounds to the
    # host's CPU and memory (worker/slots.py, docs/operations.md#browser-slots): one more while
    # every slot is busy, the CPU is under worker_cpu_idle and the memory has room for another
    # browser (worker_slot_mib above worker_memory_reserve_mib); fewer when the CPU is at
    # worker_cpu_busy or the free memory under the reserve.
    worker_min_slots: int = Field(default=1, ge=1)
    worker_max_slots: int = Field(default=24, ge=1)
    worker_cpu_busy: float = Field(default=0.98, gt=0, le=1)
    worker_cpu_idle: float = Field(default=0.90, gt=0, le=1)
    worker_memory_reserve_mib: int = Field(default=512, ge=0)
    worker_slot_mib: int = Field(default=150, ge=0)
    # The slots of a worker process share one browser, each send in a context of its own and a
    # greenlet of the browser's thread (worker/green.py); off: a browser per slot thread
    # (docs/operations.md#browser-slots).
    worker_shared_browser: bool = True

    # Card payments (docs/operations.md#payments): "stripe", "test" (the Luhn test gateway,
    # honoured only with ``demo`` or under the tests) or "" (card orders are refused).
    payments: Literal["", "stripe", "test"] = ""
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    # Empty means Stripe's own API; the tests point the library at a local server.
    stripe_api_base: str = ""
    # The qualified invoice (適格請求書): issuer, its registration number (T + 13 digits) and
    # the account bank transfers are paid into (振込先).
    invoice_issuer: str = ""
    invoice_registration_no: str = ""
    bank_account: str = ""

    @field_validator("invoice_registration_no")
    @classmethod
    def _registration_no(cls, value: str) -> str:
        value = value.strip()
        if value and not REGISTRATION_NO.fullmatch(value):
            raise ValueError(
                "MIKOMI_INVOICE_REGISTRATION_NO must be T followed by 13 digits (T1234567890123)"
            )
        return value

    @property
    def payment_mode(self) -> Literal["stripe", "test", "none"]:
        """The gateway card orders use: the test gateway only in the demo or under the tests."""
        if self.payments == "stripe":
            return "stripe"
        if self.payments == "test" and (self.demo or under_tests()):
            return "test"
        return "none"

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.var_dir / 'mikomi.db'}"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or "redis://127.0.0.1:6379/0"

    @property
    def effective_browser_path(self) -> str:
        return self.browser_path or _find_browser()


REGISTRATION_NO = re.compile(r"T[0-9]{13}")


def under_tests() -> bool:
    """True inside a pytest run and the processes its tests start (pytest sets this variable
    for every test, and child processes inherit it)."""
    return "PYTEST_CURRENT_TEST" in os.environ


def unsafe_setting(settings: Settings) -> str | None:
    """Why these settings must not run a service, or None when they may."""
    if settings.allow_private and not settings.demo:
        return (
            "MIKOMI_ALLOW_PRIVATE=1 lets workers reach this network's private addresses "
            "(databases, cloud metadata); it is for the demo and the tests only. "
            "Unset it, or set MIKOMI_DEMO=1 on a machine that runs the demo."
        )
    if (settings.guard_test_public or settings.guard_test_hosts) and not settings.demo:
        return (
            "MIKOMI_GUARD_TEST_PUBLIC and MIKOMI_GUARD_TEST_HOSTS make the network guard treat "
            "loopback addresses as public and resolve names without DNS; they are for the "
            "tests and the demo only. Unset them, or set MIKOMI_DEMO=1."
        )
    if settings.payments == "stripe" and not (
        settings.stripe_secret_key and settings.stripe_webhook_secret
    ):
        return (
            "MIKOMI_PAYMENTS=stripe needs MIKOMI_STRIPE_SECRET_KEY and "
            "MIKOMI_STRIPE_WEBHOOK_SECRET (the signing secret of the webhook endpoint)."
        )
    return None


class LinkProbes(NamedTuple):
    """How a connection notices a silent link within ``link_timeout_s``: keepalive probes from
    half that time on, three of them, and a TCP user timeout of the whole time."""

    idle_s: int
    interval_s: int
    probes: int
    user_timeout_ms: int


def link_probes() -> LinkProbes | None:
    """The probes for ``link_timeout_s``; None when it is 0 (the system's defaults). Used by
    the database (shared/db.py) and Redis (shared/redis_conn.py) connections alike."""
    seconds = get_settings().link_timeout_s
    if seconds <= 0:
        return None
    return LinkProbes(
        idle_s=max(1, round(seconds / 2)),
        interval_s=max(1, round(seconds / 6)),
        probes=3,
        user_timeout_ms=round(seconds * 1000),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
