"""Limits on what a page may do to the worker's browser (the hostile-site corpus, fixtures/hostile/).

Two parts:

- :data:`PAGE_LIMITS_JS`, run in every frame before the page's own scripts: a document may
  open ``POPUP_BUDGET`` windows (each is refused and closed by the driver; a storm of them kept
  the browser busy closing pop-ups until the load timed out), ``print()`` does nothing, a document gets at most ``DIALOG_BUDGET`` dialogs
  (after that alert/confirm/prompt answer at once, as if dismissed, instead of a round trip to
  the worker each), and ``history.pushState``/``replaceState`` are dropped beyond
  ``HISTORY_PER_SECOND`` a second (a flood of them sent the worker tens of thousands of
  navigation events a second and held a send for minutes).
- :class:`BrowserWatchdog`: a page that spins in JavaScript (a busy loop, a dialog loop made
  harmless by the budget) never answers the worker's next call, and Playwright's calls into a
  page have no time limit of their own. Past the send's deadline the watchdog kills the send's
  Chromium (killing only the renderer is not enough: a DevTools call to a crashed page never
  returns): every pending call fails, the send ends as a timeout, and the driver starts a new
  browser for the next send. Only that browser: ``mikomi engine qa`` runs one per thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError

from worker import green

log = logging.getLogger(__name__)

DIALOG_BUDGET = 20
POPUP_BUDGET = 5
HISTORY_PER_SECOND = 50
# How long past the send's deadline a call into the page may still be running.
WATCHDOG_GRACE_S = 5.0

PAGE_LIMITS_JS = f"""
(() => {{
  const w = window;
  const open = w.open;
  let popups = 0;
  w.open = function (...args) {{
    popups += 1;
    return popups > {POPUP_BUDGET} ? null : open.apply(w, args);
  }};
  try {{ w.print = () => undefined; }} catch (e) {{}}
  let dialogs = 0;
  for (const [name, answer] of [["alert", undefined], ["confirm", false], ["prompt", null]]) {{
    const real = w[name];
    if (typeof real !== "function") continue;
    w[name] = function (...args) {{
      dialogs += 1;
      return dialogs > {DIALOG_BUDGET} ? answer : real.apply(w, args);
    }};
  }}
  const H = w.History && w.History.prototype;
  if (H) {{
    let second = 0, count = 0;
    for (const name of ["pushState", "replaceState"]) {{
      const real = H[name];
      H[name] = function (...args) {{
        const now = Math.floor(Date.now() / 1000);
        if (now !== second) {{ second = now; count = 0; }}
        count += 1;
        if (count > {HISTORY_PER_SECOND}) return undefined;
        return real.apply(this, args);
      }};
    }}
  }}
}})();
"""


def browser_pid(browser: Any) -> int | None:
    """The process id of a launched Chromium (None if it cannot say)."""
    try:
        session = browser.new_browser_cdp_session()
        info = session.send("SystemInfo.getProcessInfo")
        session.detach()
        return next(int(p["id"]) for p in info["processInfo"] if p["type"] == "browser")
    except (PlaywrightError, StopIteration, KeyError, TypeError, ValueError):
        return None


class BrowserWatchdog:
    """Kills the send's Chromium if the send runs ``grace_s`` past ``deadline_s``.

    ``pid`` says which browser when the time comes (None: every Chromium of this process);
    ``fired`` is True once the browser was killed.
    """

    def __init__(
        self,
        deadline_s: float,
        pid: Callable[[], int | None],
        grace_s: float = WATCHDOG_GRACE_S,
    ) -> None:
        self.wait_s = max(0.0, deadline_s) + grace_s
        self.pid = pid
        self.fired = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mikomi-watchdog", daemon=True)

    def __enter__(self) -> BrowserWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        if self._done.wait(self.wait_s):
            return
        self.fired = True
        pid = self.pid()
        killed = kill_browsers(os.getpid()) if pid is None else kill_tree(pid)
        log.warning("send over its deadline: killed the browser %s", killed)


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    return children


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and every process descended from it; their pids."""
    children = _children()
    doomed = [pid]
    for parent in doomed:
        doomed.extend(children.get(parent, []))
    for each in doomed:
        with contextlib.suppress(OSError):
            os.kill(each, signal.SIGKILL)
    return doomed


def kill_browsers(root_pid: int) -> list[int]:
    """SIGKILL every Chromium process descended from ``root_pid`` (not Playwright's driver);
    their pids."""
    children = _children()
    killed: list[int] = []
    stack = list(children.get(root_pid, []))
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        with contextlib.suppress(OSError):
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
            if b"chrom" in program.rsplit(b"/", 1)[-1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


class ContextWatchdog:
    """The watchdog of a send on a browser host (worker/green.py), where the browser serves
    other sends too: past the deadline it closes only the send's browser context (its renderer
    goes with it), which fails the send's pending calls. ``tab`` says which context when the
    time comes."""

    def __init__(
        self,
        deadline_s: float,
        tab: Callable[[], Any],
        grace_s: float = WATCHDOG_GRACE_S,
    ) -> None:
        self.wait_s = max(0.0, deadline_s) + grace_s
        self.tab = tab
        self.fired = False
        self._cancel: Callable[[], Any] = lambda: None

    def __enter__(self) -> ContextWatchdog:
        self._cancel = green.call_later(self.wait_s, self._fire)
        return self

    def __exit__(self, *exc: object) -> None:
        self._cancel()

    def _fire(self) -> None:
        # On the loop, not in a greenlet: Playwright's asynchronous side closes the context.
        self.fired = True
        tab = self.tab()
        if tab is None:
            return
        tab.slot.broken = True
        context = tab.context._impl_obj
        green.spawn_on_loop(context.close(reason="the send ran past its deadline"))
        log.warning("send over its deadline: closed its browser context")
