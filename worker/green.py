"""Many sends on one browser: greenlets on the thread that owns Playwright (docs/architecture.md#browser-slots).

A send mostly waits on the network. Giving every concurrent send its own thread means its own
Playwright (a Node driver) and its own Chromium (a browser, a GPU and a network process), about
150 MiB and a share of CPU each even while they wait. Playwright's synchronous API is built on
greenlets: a call switches to the "dispatcher" greenlet that runs Playwright's asyncio loop and
is switched back when its answer arrives. So several sends can run at once on one thread, each
in a greenlet of its own, all on one Playwright and one browser: while one waits for a page,
the loop runs the others. Each send still has its own browser context (its own renderer
process, cookies and storage) and its own guard proxy.

:class:`BrowserHost` is that thread. Slot threads (worker/slot_pool.py) keep running the job
around the send — database transactions, the lease, the evidence store — and hand only the
engine's ``send`` to the host; ``before_submit`` (a database transaction) is handed back to
the slot thread, so nothing slow of the job ever blocks the host's loop.

Inside the host, waiting must go through the loop: :func:`wait` (a future of another thread)
and :func:`sleep` block only the calling greenlet there, and the whole thread elsewhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from greenlet import getcurrent, greenlet

# Playwright's own wait (the one every sync call uses), and below its loop and dispatcher
# (``Driver.playwright_loop``): not public API, so the version is pinned in constraints.txt and
# tests/worker/test_green.py fails first if they change.
from playwright._impl._greenlets import wait_for_future

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often a slot thread waiting for its send looks whether the host is still running.
_CHECK_S = 1.0

# The greenlets of sends carry this attribute: the loop and the dispatcher they wait through.
_HUB = "_mikomi_hub"


@dataclass(frozen=True)
class _Hub:
    loop: asyncio.AbstractEventLoop
    dispatcher: greenlet


def _hub() -> _Hub | None:
    return getattr(getcurrent(), _HUB, None)


def active() -> bool:
    """True inside a send greenlet of a :class:`BrowserHost`."""
    return _hub() is not None


def wait(future: concurrent.futures.Future[T], timeout_s: float | None = None) -> T:
    """The result of a future another thread completes; in a send greenlet only that greenlet
    waits. Raises ``TimeoutError`` after ``timeout_s`` (the future itself goes on)."""
    hub = _hub()
    if hub is None:
        return future.result(timeout=timeout_s)
    wrapped = asyncio.wrap_future(future, loop=hub.loop)
    ended: asyncio.Future[None] = hub.loop.create_future()

    def end(_: Any = None) -> None:
        if not ended.done():
            ended.set_result(None)

    wrapped.add_done_callback(end)
    timer = hub.loop.call_later(timeout_s, end) if timeout_s is not None else None
    try:
        wait_for_future(hub.loop, hub.dispatcher, ended)
    finally:
        if timer is not None:
            timer.cancel()
    if not wrapped.done():
        raise TimeoutError
    return wrapped.result()


def sleep(seconds: float) -> None:
    hub = _hub()
    if hub is None:
        time.sleep(seconds)
        return
    task = hub.loop.create_task(asyncio.sleep(seconds))
    wait_for_future(hub.loop, hub.dispatcher, task)


def call_later(seconds: float, fn: Callable[[], None]) -> Callable[[], None]:
    """Run ``fn`` on the host's loop after ``seconds``, from a send greenlet; returns the
    function that cancels it."""
    hub = _hub()
    if hub is None:
        raise RuntimeError("call_later runs in a send greenlet of a browser host")
    return hub.loop.call_later(seconds, fn).cancel


def spawn_on_loop(coro: Any) -> None:
    """Start a coroutine on the host's loop, from a callback on that loop; its failure is
    logged, never raised."""

    def done(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.info("a background browser call failed: %s", task.exception())

    asyncio.get_running_loop().create_task(coro).add_done_callback(done)


@dataclass(eq=False)
class _Request:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    # Messages back to the slot thread: ("call", fn, future) for it to run, ("done", value),
    # ("error", exception).
    replies: queue.SimpleQueue[tuple[str, Any, Any]] = field(default_factory=queue.SimpleQueue)
    answered: bool = False

    def answer(self, kind: str, value: Any) -> None:
        if not self.answered:
            self.answered = True
            self.replies.put((kind, value, None))


class HostEnded(RuntimeError):
    """The browser host's thread ended (its Playwright connection was lost, or it closed)
    before this send had its answer."""


class HostStuck(TimeoutError):
    """A send on the browser host had no answer long past its deadline: a call into the
    browser that never returns (the context watchdog did not end it)."""


class BrowserHost:
    """A thread that owns one engine (one Playwright, one browser) and runs its sends as
    greenlets. ``call`` is thread-safe; callables passed in ``kwargs`` named by
    ``on_caller`` run on the calling thread."""

    def __init__(self, factory: Callable[[], Any], name: str = "mikomi-browser-host") -> None:
        self._factory = factory
        self._requests: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Future[None] | None = None
        self._open: set[_Request] = set()  # spawned and not ended yet
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.engine: Any = None

    def start(self) -> BrowserHost:
        self._thread.start()
        self._started.wait()
        if self._failure is not None:
            raise self._failure
        return self

    def close(self, timeout_s: float = 30.0) -> None:
        if not self._thread.is_alive():
            return
        self._requests.put(None)
        self._poke()
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def call(
        self,
        method: str,
        *args: Any,
        on_caller: tuple[str, ...] = (),
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """``engine.<method>(*args, **kwargs)`` in a greenlet of the host; blocks the caller.
        The keyword arguments named in ``on_caller`` are callables run on this thread. Past
        ``timeout_s`` without an answer the caller stops waiting (:class:`HostStuck`); the
        greenlet's late answer is dropped."""
        if not self._thread.is_alive():
            raise RuntimeError("the browser host is not running")
        request = _Request(getattr(type(self.engine), method), args, dict(kwargs))
        for name in on_caller:
            if request.kwargs.get(name) is not None:
                request.kwargs[name] = _on_thread(request.replies, request.kwargs[name])
        self._requests.put(request)
        self._poke()
        give_up = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            try:
                kind, value, future = request.replies.get(timeout=_CHECK_S)
            except queue.Empty:
                # The host answers every open request when its thread ends (_main's finally);
                # a request put just as it ended is answered here.
                if not self._thread.is_alive() and request.replies.empty():
                    raise HostEnded("the browser host ended before this send's answer") from None
                if give_up is not None and time.monotonic() > give_up:
                    request.answered = True  # a late answer goes nowhere
                    raise HostStuck(
                        f"no answer from the browser host in {timeout_s:.0f} s"
                    ) from None
                continue
            if kind == "call":
                try:
                    future.set_result(value())
                except BaseException as exc:  # handed back to the greenlet
                    future.set_exception(exc)
            elif kind == "done":
                return value
            else:
                raise value

    def _poke(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._wake_up)

    def _wake_up(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _main(self) -> None:
        try:
            engine = self._factory()
            enter = getattr(engine, "__enter__", None)
            self.engine = enter() if enter is not None else engine
            loop, dispatcher = self.engine.playwright_loop()
        except BaseException as exc:
            self._failure = exc
            self._started.set()
            return
        self._loop = loop
        hub = _Hub(loop, dispatcher)
        self._started.set()
        closing = False
        try:
            while not (closing and not self._open):
                self._wake = loop.create_future()
                while True:
                    try:
                        request = self._requests.get_nowait()
                    except queue.Empty:
                        break
                    if request is None:
                        closing = True
                        continue
                    self._spawn(hub, request)
                if closing and not self._open:
                    break
                # Sleep in the loop until a request comes or a send ends.
                wait_for_future(loop, dispatcher, self._wake)
        except Exception:
            # Playwright's connection ended (its driver died): the sends still open fail, and
            # the worker starts a new host for the next one (worker/jobs.py).
            log.exception("the browser host's loop ended: its open sends fail")
        finally:
            self._loop = None
            self._fail_open()
            try:
                exit_ = getattr(self.engine, "__exit__", None)
                if exit_ is not None:
                    exit_(None, None, None)
            except Exception:
                log.warning("closing the browser host's engine failed", exc_info=True)

    def _fail_open(self) -> None:
        """Answer every request still open or queued: their slot threads wait for it."""
        ended = HostEnded("the browser host ended before this send's answer")
        for request in list(self._open):
            request.answer("error", ended)
        self._open.clear()
        while True:
            try:
                queued = self._requests.get_nowait()
            except queue.Empty:
                return
            if queued is not None:
                queued.answer("error", ended)

    def _spawn(self, hub: _Hub, request: _Request) -> None:
        def body() -> None:
            try:
                value = request.fn(self.engine, *request.args, **request.kwargs)
            except BaseException as exc:  # the slot thread raises it
                request.answer("error", exc)
            else:
                request.answer("done", value)
            finally:
                self._open.discard(request)
                self._wake_up()

        task = greenlet(body, parent=hub.dispatcher)
        setattr(task, _HUB, hub)
        self._open.add(request)
        hub.loop.call_soon(task.switch)


class HostedSender:
    """A slot thread's handle on a browser host running ``worker.engine.Sender``: ``send`` runs
    on the host, ``before_submit`` back on the calling thread.

    The send's own watchdog ends it at its deadline plus a grace (worker/page_limits.py). If
    even that fails — a call into the browser that never returns — the slot thread stops
    waiting ``STUCK_AFTER_S`` later and ``on_stuck`` runs (the worker kills the browser, which
    fails every call still pending in it; the next send starts a new one)."""

    STUCK_AFTER_S = 60.0

    def __init__(self, host: BrowserHost, on_stuck: Callable[[], Any] | None = None) -> None:
        self.host = host
        self.on_stuck = on_stuck

    def send(self, *args: Any, **kwargs: Any) -> Any:
        deadline_s = kwargs.get("deadline_s") or self.host.engine.settings.send_timeout_s
        try:
            return self.host.call(
                "send",
                *args,
                on_caller=("before_submit",),
                timeout_s=deadline_s + self.STUCK_AFTER_S,
                **kwargs,
            )
        except HostStuck:
            log.error(
                "a send on the browser host had no answer %.0f s past its deadline",
                self.STUCK_AFTER_S,
            )
            if self.on_stuck is not None:
                self.on_stuck()
            raise


def _on_thread(
    replies: queue.SimpleQueue[tuple[str, Any, Any]], fn: Callable[[], T]
) -> Callable[[], T]:
    """``fn`` as called from a send greenlet: run on the slot thread, waited for in the loop."""

    def relayed() -> T:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        replies.put(("call", fn, future))
        return wait(future)

    return relayed
