"""The browser driver: the only place that runs Playwright (sync API).

One :class:`Driver` per worker process keeps one long-lived Chromium (the Debian
``chromium-headless-shell``); each send gets a fresh :class:`Tab` — a new browser context with
its own cookies and storage — which costs a few milliseconds, where launching a browser per send
costs seconds of CPU. Everything that touches the DOM runs as one page script per frame (annotate,
fill, click), not as Playwright's step-by-step actions with their actionability checks: the
decisions were already made by :mod:`formfill` on the snapshot.

A Playwright instance belongs to the thread that started it; use one Driver per thread.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from playwright.sync_api import Dialog, Frame, Page, Playwright, Response, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from formfill import FillAction, FrameSnapshot, PageSnapshot
from shared.config import Settings, get_settings
from worker import browser_user, green, page_limits, page_scripts
from worker.netguard import BLOCKED_MARKER, UNREACHABLE_MARKER, GuardProxy, NetGuard

# The sandbox is Playwright's chromium_sandbox option, decided in worker/browser_user.py.
BROWSER_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    # Images never load (they cost decode time and bandwidth and decide nothing); the layout
    # keeps their boxes, so visibility checks still see linked images.
    "--blink-settings=imagesEnabled=false",
    # Web fonts are never fetched either (text renders in the system's CJK font).
    "--disable-remote-fonts",
    # One renderer process per browser context (per send in flight) instead of one per site:
    # a worker browser holds no logins or data of its own for site isolation to protect, and
    # process start-up was a large part of Chromium's CPU per send.
    "--disable-site-isolation-trials",
    "--disable-features=IsolateOrigins,site-per-process",
    "--renderer-process-limit=1",
    # A page that allocates without end dies at this size instead of taking the host's memory.
    "--js-flags=--max-old-space-size=512",
    # WebRTC may not open UDP outside the proxy: STUN/TURN to private addresses from page
    # JavaScript would otherwise pass the network guard by.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
)

# Fonts, media and images are refused by resource type (and the Google Fonts hosts by name),
# in the browser: only these requests pause for the slot's own DevTools session to fail them.
# Stylesheets are kept because visibility (honeypots hidden by a class) depends on them.
# (Playwright's route() pauses every request of the page for a round trip through the driver
# and this process; here only the refused ones pause.)
_BLOCKED_ASSETS = [
    {"resourceType": "Font"},
    {"resourceType": "Media"},
    {"resourceType": "Image"},
    {"urlPattern": "*://fonts.googleapis.com/*"},
    {"urlPattern": "*://fonts.gstatic.com/*"},
]

# 1024×720: the desktop layout on most sites (a site whose breakpoint is 1024 px or more shows
# its tablet layout), with about a third fewer pixels to raster, composite and screenshot than
# 1280×900; measured here, about 70 ms less CPU per send.
VIEWPORT = {"width": 1024, "height": 720}
SCREENSHOT_QUALITY = 55
# data-mk numbers of frame i start at i * FRAME_BASE, so selectors never collide across frames.
FRAME_BASE = 100_000
# A kept context is replaced now and then, so nothing a site leaves behind outside the wiped
# storage (HTTP cache, leaked memory) lives long.
SLOT_MAX_SENDS = 50
# Settling after a click: the poll interval, how long the page must have had no network
# activity to count as quiet, and how often the fingerprint is read while requests are out.
SETTLE_POLL_MS = 60
QUIET_S = 0.12
BUSY_LOOK_S = 0.5

NavError = Literal["timeout", "unreachable", "blocked", "http_error", "aborted"]


@dataclass
class NavResult:
    """What a navigation gave: the HTTP status, or why there is none."""

    ok: bool
    status: int | None = None
    error: NavError | None = None
    detail: str = ""


@dataclass
class SettleResult:
    """What happened after a click: a navigation, a change of the page, or nothing."""

    kind: Literal["navigated", "changed", "none"]
    status: int | None = None  # HTTP status of the new main document, when there was one


@dataclass
class DialogRecord:
    type: str
    message: str
    action: str


class Driver:
    """One long-lived browser for one worker thread; open a :class:`Tab` per send."""

    def __init__(
        self,
        settings: Settings | None = None,
        guard: NetGuard | None = None,
        reuse_context: bool = True,
    ) -> None:
        self.settings = settings or get_settings()
        self.allow_private = self.settings.allow_private
        self.guard = guard or NetGuard()
        self._playwright: Playwright | None = None
        self._browser: Any = None
        self._proxy: GuardProxy | None = None
        self.browser_pid: int | None = None  # for the watchdog (worker/page_limits.py)
        self._browser_killed: int | None = None  # the pid kill_browser killed
        # Kept contexts waiting for the next send: one at the most on a thread of its own,
        # as many as sends ran at once on a browser host (worker/green.py).
        self._idle: list[_Slot] = []
        self._launching = False
        self.reuse_context = reuse_context

    def __enter__(self) -> Driver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if self._browser is not None:
            return
        if not self.allow_private and self._proxy is None:
            # The browser's own proxy: each context has a guard proxy of its own (_Slot), and
            # this one stands behind them for anything that is not in a context.
            self._proxy = GuardProxy(self.guard, self.settings.max_page_bytes).start()
        if self._playwright is None:
            self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(
            **browser_user.launch_options(self.settings),
            args=list(BROWSER_ARGS),
            headless=True,
            proxy=_proxy_option(self._proxy),  # type: ignore[arg-type]
            timeout=30_000,
        )
        self.browser_pid = page_limits.browser_pid(self._browser)

    def playwright_loop(self) -> tuple[Any, Any]:
        """Playwright's event loop and dispatcher greenlet (worker/green.py), once started."""
        self.start()
        return self._playwright._loop, self._playwright._dispatcher_fiber  # type: ignore[union-attr]

    def _close_browser(self) -> None:
        idle, self._idle = self._idle, []
        for slot in idle:
            slot.close()
        if self._browser is not None:
            with contextlib.suppress(PlaywrightError):
                self._browser.close()
            self._browser = None

    def close(self) -> None:
        self._close_browser()
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None
        if self._proxy is not None:
            self._proxy.stop()
            self._proxy = None

    @property
    def connected(self) -> bool:
        return (
            self._browser is not None
            and self._browser.is_connected()
            and self._browser_killed != self.browser_pid
        )

    def kill_browser(self) -> list[int]:
        """SIGKILL the browser and its children (from any thread; a call into it that never
        returns fails then); the next tab starts a new browser, even before Playwright has
        noticed. The pids killed."""
        pid = self.browser_pid
        if pid is None:
            return []
        self._browser_killed = pid
        return page_limits.kill_tree(pid)

    @property
    def browser_version(self) -> str | None:
        """The running Chromium's version ("156.0.8078.114"), None before it starts."""
        return str(self._browser.version) if self._browser is not None else None

    def open_tab(self, page_timeout_ms: int | None = None) -> Tab:
        while self._launching:  # another send on this browser host is starting it
            green.sleep(0.05)
        if not self.connected:
            # The browser crashed or was never started: start a new one rather than fail
            # every later send of this worker (the sends still on the old one fail).
            self._launching = True
            try:
                self._close_browser()
                self.start()
            finally:
                self._launching = False
        slot = self._idle.pop() if self._idle else None
        if slot is None or slot.browser is not self._browser:
            if slot is not None:
                slot.close()
            slot = _Slot(self._browser, self._slot_proxy())
        return Tab(self, slot, page_timeout_ms or self.settings.page_timeout_ms)

    def _slot_proxy(self) -> GuardProxy | None:
        if self.allow_private:
            return None
        return GuardProxy(self.guard, self.settings.max_page_bytes).start()

    def release(self, slot: _Slot) -> None:
        """Take a slot back after a send: wiped for the next one, or closed."""
        if (
            self.reuse_context
            and self.connected
            and slot.browser is self._browser
            and slot.sends < SLOT_MAX_SENDS
            and slot.wipe()
        ):
            self._idle.append(slot)
        else:
            slot.close()


class _Slot:
    """A browser context and its page, kept from send to send with its state wiped between.

    Making a context and a page for every send costs the browser far more than clearing
    cookies and the storage of the origins the last send visited. The page's event handlers
    are registered once and forward to the send (:class:`Tab`) that holds the slot.
    """

    def __init__(self, browser: Any, proxy: GuardProxy | None = None) -> None:
        self.browser = browser
        # The context's own guard proxy: what it refuses is this context's send's alone.
        self.proxy = proxy
        self.context = browser.new_context(
            viewport=VIEWPORT,
            locale="ja-JP",
            timezone_id="Asia/Tokyo",
            accept_downloads=False,
            ignore_https_errors=True,
            service_workers="block",
            proxy=_proxy_option(proxy),  # type: ignore[arg-type]
        )
        # Before any page script: no pop-ups, no print, a dialog budget, a history rate.
        self.context.add_init_script(script=page_limits.PAGE_LIMITS_JS)
        self.page: Page = self.context.new_page()
        self._cdp: Any = None
        cdp = self.cdp()
        cdp.on("Fetch.requestPaused", self._refuse_asset)
        cdp.send("Fetch.enable", {"patterns": _BLOCKED_ASSETS})
        self.tab: Tab | None = None
        # The page crashed, or a load timed out (its renderer may be spinning): a DevTools call
        # to it would wait for ever, so the slot is closed instead of wiped.
        self.broken = False
        self.crashed = False  # the renderer died (a page that ate its memory): nothing to read
        self.page.on("crash", lambda _page: self._on_crash())
        self.origins: set[str] = set()
        self.sends = 0
        # Registered after our own page exists: every later page is a pop-up and is closed.
        self.context.on("page", self._on_page)
        for event, handler in (
            ("dialog", "_on_dialog"),
            ("download", "_on_download"),
            ("request", "_on_request"),
            ("requestfinished", "_on_request_done"),
            ("requestfailed", "_on_request_done"),
            ("framenavigated", "_on_frame_navigated"),
            ("response", "_on_response"),
        ):
            self.page.on(event, self._forward(handler))

    def _forward(self, handler: str) -> Any:
        def forward(arg: Any) -> None:
            tab = self.tab
            if tab is not None:
                getattr(tab, handler)(arg)
            elif handler == "_on_dialog":
                with contextlib.suppress(PlaywrightError):
                    # Between sends only the wipe navigates: let a page's "leave?" go.
                    arg.accept() if arg.type == "beforeunload" else arg.dismiss()

        return forward

    def _on_crash(self) -> None:
        self.broken = self.crashed = True

    def _on_page(self, page: Page) -> None:
        if self.tab is not None:
            self.tab._refuse_popup(page)
        else:
            with contextlib.suppress(PlaywrightError):
                page.close()

    def _refuse_asset(self, event: dict[str, Any]) -> None:
        with contextlib.suppress(PlaywrightError):
            self.cdp().send(
                "Fetch.failRequest",
                {"requestId": event["requestId"], "errorReason": "BlockedByClient"},
            )

    def note_origin(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            self.origins.add(f"{parts.scheme}://{parts.netloc}")

    def wipe(self) -> bool:
        """Forget the last send: no cookies, no storage of the origins it saw.

        The page stays on the last document until the next send navigates away: a navigation
        to about:blank here cost about 40 ms of CPU per send. Its scripts are stopped (timers
        cleared, loading stopped) so nothing it does writes state after the wipe."""
        if self.broken:
            return False
        try:
            # Through the slot's own DevTools session: Playwright's evaluate would wait for a
            # document that a navigation still pending (a site that never answers) may never give.
            cdp = self.cdp()
            cdp.send("Page.stopLoading")
            cdp.send("Runtime.evaluate", {"expression": page_scripts.QUIESCE_JS, "timeout": 1000})
            self.context.clear_cookies()
            if self.origins:
                for origin in self.origins:
                    cdp.send(
                        "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
                    )
            self.origins.clear()
        except PlaywrightError:
            return False
        self.sends += 1
        return len(self.context.pages) == 1

    def cdp(self) -> Any:
        """The slot page's own DevTools session (made once, kept with the page)."""
        if self._cdp is None:
            self._cdp = self.context.new_cdp_session(self.page)
        return self._cdp

    @property
    def blocked(self) -> list[str]:
        """Hosts this context's proxy refused during the current navigation."""
        return self.proxy.blocked if self.proxy is not None else []

    def close(self) -> None:
        with contextlib.suppress(PlaywrightError):
            self.context.close()
        if self.proxy is not None:
            self.proxy.stop()


def _proxy_option(proxy: GuardProxy | None) -> dict[str, str] | None:
    # "<-loopback>" removes Chromium's built-in proxy bypass for loopback hosts, so 127.0.0.1
    # and *.localhost go through the guard like everything else.
    return None if proxy is None else {"server": proxy.url, "bypass": "<-loopback>"}


class Tab:
    """One send's page in a clean browser context. Use as a context manager."""

    def __init__(self, driver: Driver, slot: _Slot, page_timeout_ms: int) -> None:
        self.driver = driver
        self.page_timeout_ms = page_timeout_ms
        self.max_page_bytes = driver.settings.max_page_bytes
        self.dialogs: list[DialogRecord] = []
        self.accept_confirms = False  # True once the send is past its point of no return
        self.popups_refused = 0
        self.downloads_refused = 0
        self._frames: list[Frame] = []
        self._inflight = 0
        self._last_activity = time.monotonic()
        self._main_navigations = 0
        self._last_doc_status: int | None = None
        self.slot = slot
        self.context = slot.context
        self.page: Page = slot.page
        self.page.set_default_timeout(page_timeout_ms)
        self.page.set_default_navigation_timeout(page_timeout_ms)
        slot.tab = self

    def __enter__(self) -> Tab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.slot.tab = None
        self.driver.release(self.slot)

    # --- events ---------------------------------------------------------------------------

    def _refuse_popup(self, page: Page) -> None:
        self.popups_refused += 1
        with contextlib.suppress(PlaywrightError):
            page.close()

    def _on_download(self, download: Any) -> None:
        self.downloads_refused += 1
        with contextlib.suppress(PlaywrightError):
            download.cancel()

    def _on_dialog(self, dialog: Dialog) -> None:
        # A confirm() ("送信しますか？") after the point of no return is the site asking us to
        # go on with the submission we already decided on; before it, nothing is confirmed.
        # Alerts carry messages (often validation errors) and are recorded.
        kind = dialog.type
        accept = kind == "beforeunload" or (kind == "confirm" and self.accept_confirms)
        self.dialogs.append(DialogRecord(kind, dialog.message, "accept" if accept else "dismiss"))
        try:
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()
        except PlaywrightError:
            pass

    def _on_request(self, request: Any) -> None:
        self._inflight += 1
        self._last_activity = time.monotonic()

    def _on_request_done(self, request: Any) -> None:
        self._inflight = max(0, self._inflight - 1)
        self._last_activity = time.monotonic()

    def _on_frame_navigated(self, frame: Frame) -> None:
        self.slot.note_origin(frame.url)
        if frame == self.page.main_frame:
            self._main_navigations += 1
        self._last_activity = time.monotonic()

    def _on_response(self, response: Response) -> None:
        request = response.request
        if request.resource_type == "document" and request.frame == self.page.main_frame:
            self._last_doc_status = response.status

    # --- navigation -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.page.url

    def goto(self, url: str, timeout_ms: int | None = None) -> NavResult:
        self.slot.blocked.clear()
        try:
            response = self.page.goto(
                url, wait_until="domcontentloaded", timeout=timeout_ms or self.page_timeout_ms
            )
        except PlaywrightTimeout as exc:
            self.slot.broken = True
            return NavResult(False, error="timeout", detail=str(exc).splitlines()[0])
        except PlaywrightError as exc:
            return NavResult(
                False, error=self._classify_error(str(exc)), detail=str(exc).splitlines()[0]
            )
        if response is None:
            return NavResult(True)
        return self._judge_response(response.status, response.headers)

    def _judge_response(self, status: int, headers: dict[str, str]) -> NavResult:
        if headers.get(BLOCKED_MARKER.lower()):
            return NavResult(False, status, "blocked")
        if headers.get(UNREACHABLE_MARKER.lower()):
            return NavResult(False, status, "unreachable")
        if status >= 400:
            return NavResult(False, status, "http_error")
        return NavResult(True, status)

    def _classify_error(self, message: str) -> NavError:
        if self.slot.blocked:
            return "blocked"
        if "Timeout" in message or "ERR_TIMED_OUT" in message:
            return "timeout"
        if "ERR_ABORTED" in message:
            return "aborted"
        return "unreachable"

    # --- snapshots --------------------------------------------------------------------------

    def snapshot(self) -> PageSnapshot:
        """Annotate every frame and serialize it; frame indexes are positions in page.frames."""
        self._frames = list(self.page.frames)
        return snapshot_frames(self.page, self._frames, self.max_page_bytes)

    def look(self) -> tuple[PageSnapshot, str]:
        """:meth:`snapshot`, and the rendered text of every frame (for notices) read in the
        same round trip."""
        self._frames = list(self.page.frames)
        return read_frames(self.page, self._frames, self.max_page_bytes, with_text=True)

    def frame(self, index: int | None) -> Frame:
        if not index:
            return self.page.main_frame
        if index < len(self._frames) and not self._frames[index].is_detached():
            return self._frames[index]
        raise LookupError(f"frame {index} is gone")

    def controls_count(self) -> int:
        total = 0
        for frame in self.page.frames:
            try:
                total += int(frame.evaluate(page_scripts.CONTROLS_JS))
            except PlaywrightError:
                continue
        return total

    def wait_for_more_controls(self, baseline: int, timeout_s: float) -> bool:
        """Poll until the page shows other form controls than ``baseline`` counted (a form that
        scripts render, a frame that finished loading), then let it finish rendering."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            self._pause(100)
            count = self.controls_count()
            if count != baseline:
                # Rendering is usually one batch; give it a beat to complete.
                self._pause(150)
                return True
        return False

    def frame_of(self, selector: str) -> int | None:
        """The index (in the last snapshot's frame list) of the frame holding ``selector``."""
        for index, frame in enumerate(self._frames):
            try:
                if frame.evaluate("(s) => !!document.querySelector(s)", selector):
                    return index or None
            except PlaywrightError:
                continue
        return None

    def invalid_fields(self, frame_index: int | None, form_selector: str) -> list[dict[str, str]]:
        try:
            found: list[dict[str, str]] = self.frame(frame_index).evaluate(
                page_scripts.INVALID_JS, form_selector
            )
        except (PlaywrightError, LookupError):
            return []
        return found

    def request_submit(self, frame_index: int | None, form_selector: str) -> str:
        outcome: str = self.frame(frame_index).evaluate(
            page_scripts.REQUEST_SUBMIT_JS, form_selector
        )
        return outcome

    # --- actions ------------------------------------------------------------------------------

    def fill(self, frame_index: int | None, actions: Sequence[FillAction]) -> list[dict[str, Any]]:
        payload = [
            {"selector": a.selector, "op": a.op, "value": a.value}
            for a in actions
            if a.role != "honeypot"
        ]
        if not payload:
            return []
        result: list[dict[str, Any]] = self.frame(frame_index).evaluate(
            page_scripts.FILL_JS, payload
        )
        return result

    def settle_values(self, frame_index: int | None, quiet_s: float, timeout_s: float) -> bool:
        """Wait until the frame's field values stayed the same, with no request in flight, for
        ``quiet_s`` (a postal-code lookup rewriting the address has finished), or ``timeout_s``."""
        end = time.monotonic() + timeout_s
        last: str | None = None
        since = time.monotonic()
        while time.monotonic() < end:
            self._pause(100)
            if self._inflight:
                since = time.monotonic()  # the lookup's request is still out
                continue
            try:
                values: str = self.frame(frame_index).evaluate(page_scripts.VALUES_JS)
            except (PlaywrightError, LookupError):
                return False
            now = time.monotonic()
            if values != last or self._inflight:
                last, since = values, now
            elif now - since >= quiet_s:
                return True
        return False

    def drifted(self, frame_index: int | None, actions: Sequence[FillAction]) -> list[str]:
        """Selectors of the ``fill``/``select`` actions whose field holds another value now."""
        payload = [
            {"selector": a.selector, "op": a.op, "value": a.value}
            for a in actions
            if a.op in ("fill", "select") and a.role != "honeypot"
        ]
        if not payload:
            return []
        try:
            found: list[str] = self.frame(frame_index).evaluate(page_scripts.DRIFTED_JS, payload)
        except (PlaywrightError, LookupError):
            return []
        return found

    def signature(self, frame_index: int | None = None) -> str:
        try:
            sig: str = self.frame(frame_index).evaluate(page_scripts.SIGNATURE_JS)
        except (PlaywrightError, LookupError):
            return "<gone>"
        return sig

    def click(self, frame_index: int | None, selector: str, wait_enabled_s: float = 2.0) -> str:
        """Click by page script; waits a moment for a button enabled by the consent box."""
        end = time.monotonic() + wait_enabled_s
        while True:
            outcome: str = self.frame(frame_index).evaluate(page_scripts.CLICK_JS, selector)
            if outcome != "disabled" or time.monotonic() >= end:
                return outcome
            self._pause(100)

    def settle(self, frame_index: int | None, before: str, timeout_s: float) -> SettleResult:
        """Wait until the page reacted to an action and then went quiet, or ``timeout_s``.

        A reaction is a new main document, or a different page fingerprint (CF7 status,
        overlay, in-page message); quiet means no request in flight and the same fingerprint on
        two polls in a row. While requests are in flight nothing can settle, so the fingerprint
        is read only every :data:`BUSY_LOOK_S` then (on a slow site most of the wait).
        """
        start = time.monotonic()
        end = start + timeout_s
        navs_before = self._main_navigations
        self._last_doc_status = None
        reacted = False
        last_sig = before
        stable = 0
        looked = start
        while time.monotonic() < end:
            self._pause(SETTLE_POLL_MS)
            now = time.monotonic()
            quiet = self._inflight == 0 and now - self._last_activity > QUIET_S
            if not quiet and now - looked < BUSY_LOOK_S:
                continue
            looked = now
            navigated = self._main_navigations != navs_before
            sig = self.signature(None if navigated else frame_index)
            if navigated or sig != before:
                reacted = True
            if reacted:
                stable = stable + 1 if sig == last_sig else 0
                if quiet and stable >= 2 and sig != "<gone>":
                    break
            last_sig = sig
        if self._main_navigations != navs_before:
            with contextlib.suppress(PlaywrightError):
                self.page.wait_for_load_state(
                    "domcontentloaded", timeout=max(1, int((end - time.monotonic()) * 1000))
                )
            return SettleResult("navigated", self._last_doc_status)
        if not reacted:
            # Out of time with the last reads skipped: one more look at the page.
            reacted = self.signature(frame_index) != before
        return SettleResult("changed" if reacted else "none")

    def _pause(self, ms: int) -> None:
        """Wait ``ms`` between polls. In a send greenlet the wait is on Playwright's own loop,
        which goes on dispatching the page's events (worker/green.py); Playwright's
        ``wait_for_timeout`` would be one more round trip through its driver per poll."""
        if green.active():
            green.sleep(ms / 1000)
            if self.slot.crashed:
                # As wait_for_timeout fails on a crashed page: the send ends as the site's
                # failure, not as a page without a form (the page reads that poll swallow
                # errors would go on finding nothing).
                raise PlaywrightError("Target crashed")
        else:
            self.page.wait_for_timeout(ms)

    def scroll_into_view(self, frame_index: int | None, selector: str) -> None:
        with contextlib.suppress(PlaywrightError, LookupError):
            self.frame(frame_index).evaluate(
                "(s) => { const e = document.querySelector(s); if (e) e.scrollIntoView({block: 'start'}); }",
                selector,
            )

    def screenshot(self, path: Path) -> Path | None:
        """The visible part of the page as a JPEG at ``path``.

        Taken with one DevTools call (``optimizeForSpeed``) on the slot's session; measured
        here, about 40 ms less browser CPU per picture than Playwright's ``page.screenshot``,
        which stays as the fallback."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            shot = self.slot.cdp().send(
                "Page.captureScreenshot",
                {"format": "jpeg", "quality": SCREENSHOT_QUALITY, "optimizeForSpeed": True},
            )
            path.write_bytes(base64.b64decode(shot["data"]))
        except PlaywrightError:
            try:
                self.page.screenshot(
                    path=str(path), type="jpeg", quality=SCREENSHOT_QUALITY, timeout=5_000
                )
            except PlaywrightError:
                return None
        except (KeyError, ValueError, OSError):
            return None
        return path


def snapshot_frames(page: Page, frames: Sequence[Frame], max_bytes: int) -> PageSnapshot:
    """Annotate each frame (``data-mk``, ``data-mk-hidden``) and serialize it for formfill."""
    return read_frames(page, frames, max_bytes)[0]


def read_frames(
    page: Page, frames: Sequence[Frame], max_bytes: int, *, with_text: bool = False
) -> tuple[PageSnapshot, str]:
    """:func:`snapshot_frames` and, with ``with_text``, the frames' rendered text joined by
    newlines; one evaluate per frame."""
    children: list[FrameSnapshot] = []
    main_html = title = ""
    texts: list[str] = []
    for index, frame in enumerate(frames):
        try:
            got = frame.evaluate(page_scripts.SNAPSHOT_JS, [index * FRAME_BASE, with_text])
        except PlaywrightError:
            continue  # detached or navigating meanwhile
        html = str(got["html"])[:max_bytes]
        if got["text"]:
            texts.append(str(got["text"]))
        if index == 0:
            main_html, title = html, str(got["title"] or "")
        else:
            children.append(FrameSnapshot(url=frame.url, html=html, index=index))
    snapshot = PageSnapshot(url=page.url, html=main_html, frames=tuple(children), title=title)
    return snapshot, "\n".join(texts)
