"""The network guard: workers never reach loopback, private, link-local or reserved addresses.

Two layers, because the browser resolves names and follows redirects on its own:

1. :func:`check_url` runs in Python before the first navigation, so a prospect URL that points
   at a non-public address ends ``skipped/blocked_address`` without a single packet sent to it.
2. :class:`GuardProxy` is a small forward proxy in a thread of the worker process; the browser
   sends every request through it (``<-loopback>`` removes Chromium's implicit bypass of
   loopback hosts). The proxy resolves each host itself, refuses non-public addresses and
   connects to exactly the address it checked, so redirects, sub-resources, frames and DNS
   answers that change between the check and the connection (rebinding) are all covered.

``MIKOMI_ALLOW_PRIVATE=1`` (tests, demo, fixtures) turns both off; the driver then runs without
the proxy at all. The hostile-site corpus runs with the guard on instead, through a test
network (:meth:`NetGuard.from_settings`): ``MIKOMI_GUARD_TEST_PUBLIC`` names the addresses that
count as public (the fixture server's 127.0.0.1; every other loopback address stays private) and
``MIKOMI_GUARD_TEST_HOSTS`` resolves names without DNS (``*.localhost`` to the fixture server, a
name that resolves to a private address). Every refusal is logged.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressPolicy = Callable[[IPAddress], bool]

DNS_TIMEOUT_S = 5.0
_DNS_CACHE_TTL_S = 60.0
_HEAD_LIMIT = 64 * 1024
_CONNECT_TIMEOUT_S = 10.0
_IDLE_TIMEOUT_S = 60.0
# One browser needs a few dozen connections at once; a page that opens thousands (fetch floods,
# window.open storms) must not cost the worker a thread each.
MAX_PROXY_CONNECTIONS = 64
# A CONNECT tunnel lives no longer than a send may, and carries no more than a page may weigh.
MAX_TUNNEL_SECONDS = 120.0
# A response's status line and headers arrive within this, whatever the pace of their bytes
# (longer than any page load waits for them).
MAX_HEAD_SECONDS = 30.0

# A dedicated pool: getaddrinfo has no timeout of its own, and a hung resolver must not block
# the send that asked (the thread finishes in the background).
_resolver_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mikomi-dns")


# IPv6 ranges that the standard library counts as global but that reach, or may reach, a
# private network: 6to4 (2002::/16 embeds any IPv4 address, private ones included, and relays
# route it) and the deprecated site-local range (fec0::/10, still routed inside some networks).
_TUNNELLED_OR_SITE_LOCAL = (
    ipaddress.IPv6Network("2002::/16"),
    ipaddress.IPv6Network("fec0::/10"),
)


def is_public_address(ip: IPAddress) -> bool:
    """True for globally routable unicast addresses only."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in net for net in _TUNNELLED_OR_SITE_LOCAL):
            return False
    return bool(ip.is_global) and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified)


class Unresolvable(Exception):
    """The host has no address (or the resolver did not answer in time)."""


def _is_loopback_name(host: str) -> bool:
    # RFC 6761: localhost and *.localhost are loopback whatever a resolver says; Chromium
    # itself resolves them to 127.0.0.1 without asking DNS.
    host = host.rstrip(".").lower()
    return host == "localhost" or host.endswith(".localhost")


@dataclass
class Verdict:
    """The guard's answer for one host: allowed, or the reason it is not."""

    allowed: bool
    reason: str | None = None  # "blocked_address" | "unresolvable"
    addresses: tuple[str, ...] = ()


@dataclass
class NetGuard:
    """Resolves and judges hosts; one per worker process, shared by the proxy and the sender.

    ``policy`` decides which addresses are public; tests swap it to stand a loopback address in
    for a public one.
    """

    policy: AddressPolicy = is_public_address
    dns_timeout_s: float = DNS_TIMEOUT_S
    # Names answered without DNS ("*.suffix" for every name under suffix): the test network.
    hosts: dict[str, str] = field(default_factory=dict)
    _cache: dict[str, tuple[float, Verdict]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, settings: Any) -> NetGuard:
        """The guard of a worker: the real one, or the test network of the settings
        (``guard_test_public``, ``guard_test_hosts``; only with ``MIKOMI_DEMO=1``)."""
        public = frozenset(
            ipaddress.ip_address(a.strip())
            for a in settings.guard_test_public.split(",")
            if a.strip()
        )
        hosts: dict[str, str] = {}
        for pair in settings.guard_test_hosts.split(","):
            name, sep, address = pair.partition("=")
            if sep:
                hosts[name.strip().lower()] = str(ipaddress.ip_address(address.strip()))
        if not public and not hosts:
            return cls()

        def policy(ip: IPAddress) -> bool:
            return ip in public or is_public_address(ip)

        return cls(policy=policy, hosts=hosts)

    def check_host(self, host: str) -> Verdict:
        host = host.strip("[]").rstrip(".").lower()
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(host)
        if cached and cached[0] > now:
            verdict = cached[1]
        else:
            verdict = self._judge(host)
            with self._lock:
                self._cache[host] = (now + _DNS_CACHE_TTL_S, verdict)
        if not verdict.allowed:
            log.warning(
                "guard refused %s: %s %s", host, verdict.reason, ",".join(verdict.addresses)
            )
        return verdict

    def check_url(self, url: str) -> Verdict:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return Verdict(False, "unresolvable")
        return self.check_host(parts.hostname)

    def _judge(self, host: str) -> Verdict:
        mapped = self._test_address(host)
        if mapped is not None:
            allowed = self.policy(ipaddress.ip_address(mapped))
            return Verdict(allowed, None if allowed else "blocked_address", (mapped,))
        if _is_loopback_name(host):
            return Verdict(False, "blocked_address", ("127.0.0.1",))
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None:
            allowed = self.policy(literal)
            return Verdict(allowed, None if allowed else "blocked_address", (str(literal),))
        try:
            addresses = resolve(host, self.dns_timeout_s)
        except Unresolvable:
            return Verdict(False, "unresolvable")
        # Every answer must be public: a name with one private record is a rebinding tool.
        if all(self.policy(ipaddress.ip_address(a)) for a in addresses):
            return Verdict(True, None, addresses)
        return Verdict(False, "blocked_address", addresses)

    def _test_address(self, host: str) -> str | None:
        if not self.hosts:
            return None
        if host in self.hosts:
            return self.hosts[host]
        for name, address in self.hosts.items():
            if name.startswith("*.") and host.endswith(name[1:]):
                return address
        return None


def resolve(host: str, timeout_s: float = DNS_TIMEOUT_S) -> tuple[str, ...]:
    """The host's addresses via the system resolver, bounded in time."""
    future = _resolver_pool.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout_s)
    except (FutureTimeout, OSError, UnicodeError) as exc:
        raise Unresolvable(host) from exc
    addresses = tuple(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise Unresolvable(host)
    return addresses


# --- the proxy ------------------------------------------------------------------------------

BLOCKED_MARKER = "X-Mikomi-Blocked"
UNREACHABLE_MARKER = "X-Mikomi-Unreachable"


class GuardProxy:
    """A forward proxy on 127.0.0.1 that only connects to addresses the guard allows.

    Plain HTTP requests are forwarded one per connection (``Connection: close`` both ways, so the
    browser never sends a second request for another host down a checked connection); HTTPS and
    WebSocket traffic arrives as ``CONNECT`` and is tunnelled to the checked address. Refusals are
    a ``403`` with an ``X-Mikomi-Blocked`` header and are recorded in ``blocked`` (a
    browser context has a proxy of its own, worker/driver.py, so the record is its send's).
    """

    def __init__(
        self,
        guard: NetGuard,
        max_response_bytes: int | None = None,
        *,
        max_connections: int = MAX_PROXY_CONNECTIONS,
        max_tunnel_seconds: float = MAX_TUNNEL_SECONDS,
        max_head_seconds: float = MAX_HEAD_SECONDS,
    ) -> None:
        self.guard = guard
        self.max_response_bytes = max_response_bytes
        self.max_tunnel_seconds = max_tunnel_seconds
        self.max_head_seconds = max_head_seconds
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused_busy = 0  # connections turned away at the cap
        self.blocked: list[str] = []  # hosts refused (the driver clears it per navigation)
        self._server = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port: int = self._server.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mikomi-guard-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> GuardProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                self.refused_busy += 1
                with contextlib.suppress(OSError):
                    client.settimeout(1.0)
                    _refuse(client, 503, "too many connections")
                    client.close()
                continue
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(_IDLE_TIMEOUT_S)
            head, rest = _read_head(client)
            if head is None:
                return
            request_line, _, header_block = head.partition(b"\r\n")
            method, target, version = _split_request_line(request_line)
            if method == b"CONNECT":
                host, port = _split_host_port(target.decode("latin-1"), 443)
                upstream = self._connect(client, host, port)
                if upstream is None:
                    return
                client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                if rest:
                    upstream.sendall(rest)
                _pipe(client, upstream, self.max_response_bytes, self.max_tunnel_seconds)
                return
            parts = urlsplit(target.decode("latin-1"))
            if parts.scheme != "http" or not parts.hostname:
                _refuse(client, 400, "bad proxy request")
                return
            upstream = self._connect(client, parts.hostname, parts.port or 80)
            if upstream is None:
                return
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            headers = [
                line
                for line in header_block.split(b"\r\n")
                if line
                and not line.lower().startswith(
                    (b"proxy-connection:", b"connection:", b"keep-alive:")
                )
            ]
            headers.append(b"Connection: close")
            upstream.sendall(
                method
                + b" "
                + path.encode("latin-1")
                + b" "
                + version
                + b"\r\n"
                + b"\r\n".join(headers)
                + b"\r\n\r\n"
                + rest
            )
            # Forward the rest of a request body before waiting for the answer.
            remaining = _content_length(headers) - len(rest)
            while remaining > 0:
                chunk = client.recv(min(remaining, 65536))
                if not chunk:
                    return
                upstream.sendall(chunk)
                remaining -= len(chunk)
            # The response head is rewritten to close the connection: the browser must not
            # reuse a connection the proxy opened for one checked host.
            resp_head, resp_rest = _read_head(upstream, self.max_head_seconds)
            if resp_head is None:
                return
            resp_lines = [
                line
                for line in resp_head.split(b"\r\n")
                if line and not line.lower().startswith((b"connection:", b"keep-alive:"))
            ]
            resp_lines.append(b"Connection: close")
            client.sendall(b"\r\n".join(resp_lines) + b"\r\n\r\n" + resp_rest)
            _pipe(client, upstream, self.max_response_bytes, self.max_tunnel_seconds)
        except OSError:
            pass
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.close()
            self._slots.release()

    def _connect(self, client: socket.socket, host: str, port: int) -> socket.socket | None:
        verdict = self.guard.check_host(host)
        if not verdict.allowed:
            if verdict.reason == "blocked_address":
                self.blocked.append(host)
                _refuse(client, 403, "blocked: non-public address", blocked=True)
            else:
                _refuse(client, 502, "unresolvable host")
            return None
        # Connect to the very address that was checked, never to a fresh resolution.
        last_error: OSError | None = None
        for address in verdict.addresses:
            try:
                return socket.create_connection((address, port), timeout=_CONNECT_TIMEOUT_S)
            except OSError as exc:
                last_error = exc
        _refuse(client, 502, f"connect failed: {last_error}")
        return None


def _read_head(sock: socket.socket, max_seconds: float | None = None) -> tuple[bytes | None, bytes]:
    """The head of a request or response and the bytes after it; None when the peer closes,
    sends too much, or (``max_seconds``) takes too long: a server that drips its answer a byte
    at a time (slowloris) would otherwise hold a proxy thread and one of its slots for days."""
    data = b""
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    timeout = sock.gettimeout()
    while b"\r\n\r\n" not in data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, b""
            sock.settimeout(left if timeout is None else min(timeout, left))
        chunk = sock.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
        if len(data) > _HEAD_LIMIT:
            return None, b""
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _content_length(headers: list[bytes]) -> int:
    for line in headers:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return int(value.strip())
            except ValueError:
                return 0
    return 0


def _split_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    pieces = line.split(b" ")
    if len(pieces) != 3:
        raise OSError("bad request line")
    return pieces[0].upper(), pieces[1], pieces[2]


def _split_host_port(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        return host, int(port.lstrip(":") or default_port)
    host, _, port = authority.rpartition(":")
    if not host:
        return port, default_port
    return host, int(port or default_port)


def _refuse(client: socket.socket, status: int, text: str, *, blocked: bool = False) -> None:
    body = text.encode()
    extra = f"{BLOCKED_MARKER}: 1\r\n" if blocked else f"{UNREACHABLE_MARKER}: 1\r\n"
    client.sendall(
        (
            f"HTTP/1.1 {status} Refused\r\nContent-Type: text/plain\r\n{extra}"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body
    )


def _pipe(
    a: socket.socket, b: socket.socket, limit: int | None, max_seconds: float | None = None
) -> None:
    """Copy bytes both ways until either side closes (``limit`` caps what flows back to ``a``,
    ``max_seconds`` the whole exchange)."""
    sent_back = 0
    sockets = [a, b]
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    while True:
        wait = _IDLE_TIMEOUT_S
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
            if wait <= 0:
                return
        readable, _, _ = select.select(sockets, [], [], wait)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            if sock is b:
                sent_back += len(data)
                if limit is not None and sent_back > limit:
                    return  # over the page size limit: cut the response off
                a.sendall(data)
            else:
                b.sendall(data)
