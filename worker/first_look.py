"""The browser-free first look (docs/architecture.md#the-first-look): before a browser opens a
prospect, its top page and the contact page it links to are fetched with a plain HTTP client,
and a send ends there when the static HTML settles it the way the browser would.

The fetches go through the same network guard as the browser: a :class:`GuardProxy` of the
sender's :class:`NetGuard`, so every redirect hop is checked, non-public addresses are refused
(``X-Mikomi-Blocked``), the proxy connects only to the address it checked, and a response is cut
at ``max_page_bytes``. With ``MIKOMI_ALLOW_PRIVATE=1`` the browser runs without the proxy and
resolves ``localhost`` names itself; the first look then uses a proxy that allows every address
and resolves those names the same way.

Which evidence ends a send (anything else, or any doubt, is the browser's):

- the guard refused the top page or a redirect hop → ``skipped/blocked_address``;
- the top page's host has no address or refused the connection → ``failed/site_unreachable``
  (a connection that times out is left to the browser, whose own clock decides);
- the top page answered an HTTP error → ``failed/http_error``, except the statuses bot filters
  answer plain clients with (403, 406, 429, 503), which the browser may not get;
- what :func:`formfill.judge_top_page` and :func:`formfill.judge_contact_page` settle: a CAPTCHA,
  a refusal notice, no contact link on an inert top page.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import ssl
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

import formfill
from formfill import FirstLookVerdict, StaticPage
from shared.config import Settings
from shared.enums import FailReason, SendStatus, SkipReason
from worker import green
from worker.netguard import BLOCKED_MARKER, UNREACHABLE_MARKER, GuardProxy, NetGuard

# The first look waits no longer than this (or the page timeout, if shorter): a site slower
# than that is the browser's to judge, with its own clock.
FIRST_LOOK_TIMEOUT_S = 8.0
# Statuses that bot filters answer plain HTTP clients with: the browser may get the page.
BOT_FILTER_STATUSES = frozenset({403, 406, 429, 503})
MAX_STYLESHEETS = 8
# What the worker's Chromium sends (worker/driver.py opens pages with locale ja-JP): sites that
# answer by client get the same question, with the running browser's version.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/{version} Safari/537.36"
)
DEFAULT_VERSION = "156.0.0.0"
HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "ja-JP",
}
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_CHARSET_ALIASES = {"shift_jis": "cp932", "sjis": "cp932", "x-sjis": "cp932", "ms_kanji": "cp932"}
# Connection failures that are answers, not waits: the browser gets them just as fast.
_DEFINITE_FAILURE = re.compile(r"unresolvable host|refused|unreachable", re.I)

Judge = Callable[[Sequence[str] | None], FirstLookVerdict]

_OUTCOMES: dict[str, tuple[SendStatus, str]] = {
    "captcha": (SendStatus.SKIPPED, SkipReason.CAPTCHA),
    "refused": (SendStatus.SKIPPED, SkipReason.REFUSED_SALES),
    "no_contact_page": (SendStatus.FAILED, FailReason.NO_CONTACT_PAGE),
    "blocked": (SendStatus.SKIPPED, SkipReason.BLOCKED_ADDRESS),
    "unreachable": (SendStatus.FAILED, FailReason.SITE_UNREACHABLE),
    "http_error": (SendStatus.FAILED, FailReason.HTTP_ERROR),
}


@dataclass
class LookResult:
    """What the first look found: an outcome (``status``, ``reason``), or None for the browser."""

    status: str | None = None
    reason: str | None = None
    final_url: str | None = None
    pages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def end(self, kind: str, note: str) -> LookResult:
        status, reason = _OUTCOMES[kind]
        self.status, self.reason = str(status), str(reason)
        self.notes.append(f"first look: {note}")
        return self

    def defer(self, note: str) -> LookResult:
        self.notes.append(f"first look: to the browser ({note})")
        return self


@dataclass
class _Fetched:
    """One GET: the final URL and status, the guard's marker, the decoded body; or an error."""

    url: str
    status: int = 0
    marker: str | None = None  # "blocked" | "unreachable"
    html: str | None = None  # None: not an HTML page, or cut off at the size limit
    text: str = ""  # the guard's refusal text
    error: str | None = None


def allow_all_guard() -> NetGuard:
    """The guard of ``MIKOMI_ALLOW_PRIVATE=1``: every address, and ``localhost`` names resolved
    to loopback as Chromium resolves them."""
    return NetGuard(
        policy=lambda _ip: True, hosts={"localhost": "127.0.0.1", "*.localhost": "127.0.0.1"}
    )


class FirstLook:
    """The first look of one sender: its own guard proxy and an event loop thread for httpx.
    Thread-safe; :meth:`close` when done."""

    def __init__(
        self,
        settings: Settings,
        guard: NetGuard,
        browser_version: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.browser_version = browser_version
        self.guard = allow_all_guard() if settings.allow_private else guard
        self.max_bytes = settings.max_page_bytes
        self._lock = threading.Lock()
        self._proxy: GuardProxy | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        # Certificates are not checked (the browser ignores HTTPS errors too); one context for
        # every look, since making one costs milliseconds.
        self._ssl = ssl.create_default_context()
        self._ssl.check_hostname = False
        self._ssl.verify_mode = ssl.CERT_NONE

    def _start(self) -> tuple[asyncio.AbstractEventLoop, GuardProxy]:
        with self._lock:
            if self._loop is None or self._proxy is None:
                self._proxy = GuardProxy(self.guard, self.max_bytes).start()
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="mikomi-first-look", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop, self._proxy

    def close(self) -> None:
        with self._lock:
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=5)
                if self._thread is None or not self._thread.is_alive():
                    self._loop.close()  # a loop still stuck in a call dies with the process
                self._loop = None
            if self._proxy is not None:
                self._proxy.stop()
                self._proxy = None

    def look(self, url: str, timeout_s: float | None = None) -> LookResult:
        """The first look at ``url``, within ``timeout_s`` (default: the shorter of
        :data:`FIRST_LOOK_TIMEOUT_S` and the page timeout)."""
        budget = min(FIRST_LOOK_TIMEOUT_S, self.settings.page_timeout_ms / 1000)
        if timeout_s is not None:
            budget = min(budget, timeout_s)
        if budget <= 0:
            return LookResult().defer("no time left")
        loop, proxy = self._start()
        # Read on the caller's thread: the browser belongs to it.
        agent = USER_AGENT.format(version=self.browser_version() or DEFAULT_VERSION)
        return _run(loop, self._look(url, proxy.url, budget, agent), budget + 5)

    async def _look(self, url: str, proxy_url: str, budget: float, agent: str) -> LookResult:
        result = LookResult()
        transport = httpx.AsyncHTTPTransport(proxy=proxy_url, verify=self._ssl)
        async with httpx.AsyncClient(
            transport=transport,
            headers={**HEADERS, "User-Agent": agent},
            follow_redirects=True,
            timeout=httpx.Timeout(budget),
        ) as client:
            try:
                async with asyncio.timeout(budget):
                    return await self._judge(client, url, result)
            except TimeoutError:
                return result.defer(f"no answer within {budget:.1f} s")

    async def _judge(self, client: httpx.AsyncClient, url: str, result: LookResult) -> LookResult:
        top = await self._fetch(client, url)
        result.final_url = top.url
        result.pages.append(top.url)
        if top.error:
            return result.defer(f"{url}: {top.error}")
        if top.marker == "blocked":
            return result.end("blocked", f"the guard refused {top.url}")
        if top.marker == "unreachable":
            if _DEFINITE_FAILURE.search(top.text):
                return result.end("unreachable", f"{top.url}: {top.text}")
            return result.defer(f"{top.url}: {top.text}")
        if top.status >= 400:
            if top.status in BOT_FILTER_STATUSES:
                return result.defer(f"HTTP {top.status} may be for plain clients only")
            return result.end("http_error", f"HTTP {top.status} from {top.url}")
        if not 200 <= top.status < 300 or top.html is None:
            return result.defer(f"HTTP {top.status} {top.url}: not an HTML page read whole")
        page = StaticPage(top.url, top.html)
        verdict = await self._verdict(
            client, page, lambda css: formfill.judge_top_page(page, url, css)
        )
        if verdict.action != "fetch" or verdict.url is None:
            return _conclude(result, verdict)
        contact = await self._fetch(client, verdict.url)
        result.final_url = contact.url
        result.pages.append(contact.url)
        if contact.marker == "blocked":
            # The browser ends the send on a refused link too (worker/engine.py _navigate).
            return result.end("blocked", f"the guard refused {contact.url}")
        if contact.error or contact.marker or contact.html is None:
            return result.defer(f"{verdict.url}: {contact.error or contact.text or 'no page'}")
        if not 200 <= contact.status < 300:
            return result.defer(f"HTTP {contact.status} from {contact.url}")
        page = StaticPage(contact.url, contact.html)
        verdict = await self._verdict(
            client, page, lambda css: formfill.judge_contact_page(page, css)
        )
        return _conclude(result, verdict)

    async def _verdict(
        self, client: httpx.AsyncClient, page: StaticPage, judge: Judge
    ) -> FirstLookVerdict:
        """``judge``'s verdict on ``page``, with its stylesheets read first when it asks."""
        verdict = judge(None)
        if verdict.action != "need_css":
            return verdict
        urls = page.stylesheets
        if len(urls) > MAX_STYLESHEETS:
            return FirstLookVerdict("defer", note=f"{len(urls)} stylesheets")
        sheets = await asyncio.gather(*(self._fetch(client, u, html=False) for u in urls))
        unread = [s.url for s in sheets if s.error or s.marker or s.html is None or s.status >= 300]
        if unread:
            return FirstLookVerdict("defer", note=f"stylesheets not read: {unread[:3]}")
        return judge([s.html or "" for s in sheets])

    async def _fetch(self, client: httpx.AsyncClient, url: str, *, html: bool = True) -> _Fetched:
        try:
            async with client.stream("GET", url) as response:
                fetched = _Fetched(str(response.url), response.status_code)
                headers = response.headers
                if headers.get(BLOCKED_MARKER):
                    fetched.marker = "blocked"
                elif headers.get(UNREACHABLE_MARKER):
                    fetched.marker = "unreachable"
                content_type = headers.get("content-type", "")
                wanted = not html or content_type.split(";")[0].strip().lower() in _HTML_TYPES
                if fetched.marker is None and not wanted:
                    return fetched
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        return fetched  # cut off: the browser reads what we could not
                text = _decode(bytes(body), content_type)
                if fetched.marker:
                    fetched.text = text[:200]
                else:
                    fetched.html = text
                return fetched
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError, ssl.SSLError) as exc:
            return _Fetched(url, error=f"{type(exc).__name__}: {exc}"[:200])


def _conclude(result: LookResult, verdict: FirstLookVerdict) -> LookResult:
    if verdict.action == "end" and verdict.kind is not None:
        return result.end(verdict.kind, verdict.note)
    return result.defer(verdict.note or verdict.action)


def _decode(body: bytes, content_type: str) -> str:
    """The text of a page in the encoding its header or ``<meta charset>`` names (UTF-8
    otherwise); undecodable bytes become U+FFFD, which makes the first look defer."""
    charset = ""
    match = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", content_type, re.I)
    if match:
        charset = match.group(1)
    elif body.startswith(codecs.BOM_UTF8):
        charset = "utf-8-sig"
    else:
        meta = _META_CHARSET.search(body[:4096])
        if meta:
            charset = meta.group(1).decode("ascii", "replace")
    charset = _CHARSET_ALIASES.get(charset.lower(), charset) or "utf-8"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return body.decode(charset, errors="replace")


def _run(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, LookResult], timeout_s: float
) -> LookResult:
    future = asyncio.run_coroutine_threadsafe(coro, loop)
    try:
        # On a browser host only this send waits (worker/green.py).
        return green.wait(future, timeout_s)
    except TimeoutError:
        future.cancel()
        return LookResult().defer("the first look did not finish")
