"""The first look's network side (worker/first_look.py): the guard on its path, and which network
answers end a send. Real sockets on loopback; 127.0.0.1 stands in for the public internet where
the guard is on."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shared.config import Settings
from tests.support.listener import Listener
from worker.engine import Sender
from worker.first_look import FirstLook
from worker.netguard import NetGuard

CAPTCHA_PAGE = (
    '<html><head><script src="https://www.google.com/recaptcha/api.js"></script></head>'
    "<body><form><textarea name=m></textarea></form></body></html>"
)
Route = tuple[int, dict[str, str], str]
Listen = Callable[..., Listener]


class Site:
    """A tiny HTTP site: ``routes`` maps a path to (status, headers, body); ``requests`` lists
    the paths it was asked for."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                site.requests.append(self.path)
                status, headers, body = site.routes.get(self.path, (404, {}, "not found"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


def _guarded() -> FirstLook:
    """The guard on, with 127.0.0.1 counted as public (every other loopback address private)."""
    return FirstLook(
        Settings(allow_private=False), NetGuard(policy=lambda ip: str(ip) == "127.0.0.1")
    )


def _look(
    first_look: FirstLook, url: str, timeout_s: float | None = None
) -> tuple[str | None, str | None]:
    try:
        result = first_look.look(url, timeout_s)
    finally:
        first_look.close()
    return result.status, result.reason


def test_a_prospect_on_a_private_address_is_refused_without_a_connection(listen: Listen) -> None:
    private = listen("127.0.0.2")
    assert _look(_guarded(), f"http://127.0.0.2:{private.port}/") == ("skipped", "blocked_address")
    assert private.connections == 0


def test_a_private_address_is_fetched_when_the_settings_allow_it(site: Site) -> None:
    site.routes["/"] = (200, {}, CAPTCHA_PAGE)
    allowed = FirstLook(Settings(allow_private=True), NetGuard())
    assert _look(allowed, site.url + "/") == ("skipped", "captcha")
    assert site.requests == ["/"]


def test_the_guard_judges_the_test_network_of_the_settings(site: Site) -> None:
    site.routes["/"] = (200, {}, CAPTCHA_PAGE)
    settings = Settings(allow_private=False, guard_test_public="127.0.0.1")
    assert _look(FirstLook(settings, NetGuard.from_settings(settings)), site.url + "/") == (
        "skipped",
        "captcha",
    )
    assert site.requests == ["/"]


def test_a_redirect_to_a_private_address_is_refused(site: Site, listen: Listen) -> None:
    private = listen("127.0.0.2")
    site.routes["/"] = (302, {"Location": f"http://127.0.0.2:{private.port}/contact/"}, "")
    assert _look(_guarded(), site.url + "/") == ("skipped", "blocked_address")
    assert site.requests == ["/"]
    assert private.connections == 0


def test_a_contact_link_that_redirects_to_a_private_address_is_refused(
    site: Site, listen: Listen
) -> None:
    private = listen("127.0.0.2")
    site.routes["/"] = (200, {}, '<html><body><a href="/contact/">お問い合わせ</a></body></html>')
    site.routes["/contact/"] = (302, {"Location": f"http://127.0.0.2:{private.port}/"}, "")
    assert _look(_guarded(), site.url + "/") == ("skipped", "blocked_address")
    assert site.requests == ["/", "/contact/"]
    assert private.connections == 0


def test_a_refused_connection_is_an_unreachable_site(listen: Listen) -> None:
    closed = listen()
    port = closed.port
    closed.close()
    allowed = FirstLook(Settings(allow_private=True), NetGuard())
    assert _look(allowed, f"http://127.0.0.1:{port}/") == ("failed", "site_unreachable")


def test_a_name_without_an_address_is_an_unreachable_site() -> None:
    allowed = FirstLook(Settings(allow_private=True), NetGuard())
    assert _look(allowed, "http://no-such-host.invalid/") == ("failed", "site_unreachable")


def test_an_http_error_on_the_top_page_ends_the_send(site: Site) -> None:
    site.routes["/"] = (500, {}, "<html><body>error</body></html>")
    assert _look(_guarded(), site.url + "/") == ("failed", "http_error")


@pytest.mark.parametrize("status", [403, 429, 503])
def test_statuses_of_bot_filters_are_left_to_the_browser(site: Site, status: int) -> None:
    site.routes["/"] = (status, {}, CAPTCHA_PAGE)
    assert _look(_guarded(), site.url + "/") == (None, None)


def test_a_site_that_closes_without_an_answer_is_left_to_the_browser(listen: Listen) -> None:
    mute = listen()  # accepts and closes without a word
    allowed = FirstLook(Settings(allow_private=True), NetGuard())
    assert _look(allowed, f"http://127.0.0.1:{mute.port}/", timeout_s=2) == (None, None)
    assert mute.connections >= 1


def test_a_site_that_never_answers_is_left_to_the_browser() -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # connections wait in the backlog
    try:
        allowed = FirstLook(Settings(allow_private=True), NetGuard())
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        assert _look(allowed, url, timeout_s=1) == (None, None)
    finally:
        silent.close()


def test_a_page_over_the_size_limit_is_left_to_the_browser(site: Site) -> None:
    site.routes["/"] = (200, {}, CAPTCHA_PAGE + "<!-- " + "x" * 20_000 + " -->")
    capped = FirstLook(Settings(allow_private=True, max_page_bytes=10_000), NetGuard())
    assert _look(capped, site.url + "/") == (None, None)


def test_the_first_look_fetches_the_contact_page_the_browser_would_open(site: Site) -> None:
    site.routes["/"] = (
        200,
        {},
        '<html><body><a href="/company/">会社概要</a><a href="/contact/">お問い合わせ</a></body></html>',
    )
    site.routes["/contact/"] = (
        200,
        {},
        "<html><body><p>営業目的のお問い合わせはご遠慮ください。</p>"
        "<form><textarea name=m></textarea></form></body></html>",
    )
    assert _look(_guarded(), site.url + "/") == ("skipped", "refused_sales")
    assert site.requests == ["/", "/contact/"]


def test_a_send_settled_by_the_first_look_starts_no_browser(site: Site) -> None:
    site.routes["/"] = (200, {}, CAPTCHA_PAGE)
    sender = Sender(Settings(allow_private=True), NetGuard())
    try:
        result = sender.send(site.url + "/", {}, "株式会社テスト", "https://example.com/optout/x")
        assert (result.status, result.reason) == ("skipped", "captcha")
        assert result.evidence["first_look"] is True
        assert result.evidence["pages"] == [site.url + "/"]
        assert not sender.driver.connected  # the browser never started
    finally:
        sender.close()


def test_without_the_first_look_the_setting_makes_no_fetcher() -> None:
    sender = Sender(Settings(allow_private=True, first_look=False), NetGuard())
    assert sender.first_look is None
    sender.close()


def test_the_first_look_asks_as_the_running_browser_would() -> None:
    agents: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            agents.append(self.headers.get("User-Agent", ""))
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        looking = FirstLook(Settings(allow_private=True), NetGuard(), lambda: "156.0.8078.114")
        assert _look(looking, f"http://127.0.0.1:{server.server_address[1]}/") == (
            "failed",
            "http_error",
        )
    finally:
        server.shutdown()
        server.server_close()
    assert agents == [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/156.0.8078.114 Safari/537.36"
    ]
