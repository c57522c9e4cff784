"""The browser driver on real Chromium against small pages served in-process.

Every test here talks to a real headless shell over loopback; what a page *received* or did is
read back from the page or the server, never assumed.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from formfill import FillAction
from shared.config import Settings
from tests.support.listener import Listener
from worker.driver import Driver
from worker.netguard import GuardProxy, NetGuard, is_public_address

Pages = dict[str, tuple[int, dict[str, str], str]]


class _PageServer:
    """A stdlib HTTP server in a thread on a free port, serving a dict of path → response."""

    def __init__(self, pages: Pages, host: str = "127.0.0.1") -> None:
        self.pages = pages
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                status, headers, body = outer.pages.get(self.path, (404, {}, "not found"))
                data = body.encode("utf-8")
                self.send_response(status)
                headers = {"Content-Type": "text/html; charset=utf-8"} | headers
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[..., _PageServer]]:
    servers: list[_PageServer] = []

    def _serve(pages: Pages, host: str = "127.0.0.1") -> _PageServer:
        server = _PageServer(pages, host)
        servers.append(server)
        return server

    yield _serve
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def driver() -> Iterator[Driver]:
    with Driver(Settings(allow_private=True, page_timeout_ms=8000)) as d:
        yield d


def _page(body: str, head: str = "") -> tuple[int, dict[str, str], str]:
    return 200, {}, f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"


# --- the guard without a browser ------------------------------------------------------------


def test_public_address_policy() -> None:
    public = ["8.8.8.8", "2001:4860:4860::8888", "133.242.0.1"]
    private = [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "224.0.0.1", "240.0.0.1",
        "2002:c0a8:101::1", "2002:808:808::1", "fec0::1", "feff::1", "64:ff9b::a00:1",
        "2001::1",
    ]  # fmt: skip
    assert all(is_public_address(ipaddress.ip_address(a)) for a in public)
    assert not any(is_public_address(ipaddress.ip_address(a)) for a in private)


def test_localhost_names_are_loopback_without_dns() -> None:
    guard = NetGuard()
    for host in ("localhost", "shop.localhost", "a.b.localhost.", "127.0.0.1", "[::1]"):
        verdict = guard.check_host(host)
        assert not verdict.allowed and verdict.reason == "blocked_address", host


def test_proxy_refuses_non_public_and_forwards_public(
    serve: Callable[..., _PageServer], listen: Callable[..., Listener]
) -> None:
    site = serve({"/": _page("hello")})
    listener = listen("127.0.0.2")
    # 127.0.0.1 stands in for the public internet; every other address is private.
    guard = NetGuard(policy=lambda ip: str(ip) == "127.0.0.1")
    proxy = GuardProxy(guard).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
            conn.sendall(f"GET {site.base}/ HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            answer = _read_all(conn)
        assert answer.startswith(b"HTTP/1.0 200") or answer.startswith(b"HTTP/1.1 200")
        assert b"hello" in answer
        for request in (
            f"GET http://127.0.0.2:{listener.port}/ HTTP/1.1\r\nHost: x\r\n\r\n",
            f"CONNECT 127.0.0.2:{listener.port} HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            with socket.create_connection(("127.0.0.1", proxy.port)) as conn:
                conn.sendall(request.encode())
                answer = _read_all(conn)
            assert answer.startswith(b"HTTP/1.1 403")
            assert b"X-Mikomi-Blocked" in answer
        assert listener.connections == 0
        assert proxy.blocked == ["127.0.0.2", "127.0.0.2"]
    finally:
        proxy.stop()


def _read_all(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


# --- the browser ------------------------------------------------------------------------------


@pytest.mark.e2e
def test_annotation_marks_hidden_elements(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    site = serve(
        {
            "/": _page(
                """
<form id="f" action="/post">
  <input name="visible">
  <input name="none" style="display:none">
  <input name="invisible" style="visibility:hidden">
  <input name="zero" style="width:0;height:0;border:0;padding:0">
  <input name="offscreen" style="position:absolute;left:-9999px">
  <input name="transparent" style="opacity:0">
  <div class="hp"><input name="by_class"></div>
  <input type="hidden" name="token" value="t">
  <textarea name="message"></textarea>
  <button type="submit">送信</button>
</form>
<a href="/contact/"><img alt="お問い合わせ" width="120" height="30"></a>
""",
                head="<style>.hp{display:none}</style>",
            )
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        snapshot = tab.snapshot()
        hidden = {
            name: tab.page.eval_on_selector(
                f'[name="{name}"]', "e => e.getAttribute('data-mk-hidden')"
            )
            for name in (
                "visible", "none", "invisible", "zero", "offscreen", "transparent", "by_class",
                "token", "message",
            )
        }  # fmt: skip
        numbers = tab.page.eval_on_selector_all("[data-mk]", "es => es.map(e => e.dataset.mk)")
    assert hidden["visible"] is None and hidden["message"] is None
    for name in ("none", "invisible", "zero", "offscreen", "transparent", "by_class", "token"):
        assert hidden[name] == "1", name
    assert len(numbers) == len(set(numbers)) >= 12
    assert 'data-mk="' in snapshot.html and 'data-mk-hidden="1"' in snapshot.html
    # The image link keeps a box although images never load: it is not marked hidden.
    assert 'alt="お問い合わせ"' in snapshot.html


@pytest.mark.e2e
def test_fill_script_reaches_value_tracking_frameworks(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    # Like React, the page overrides the element's own value property and only believes
    # values announced by input events; a plain assignment would be lost.
    site = serve(
        {
            "/": _page(
                """
<form><input name="company"><textarea name="message"></textarea>
<select name="pref"><option value="">--</option><optgroup label="関東"><option value="13">東京都</option></optgroup></select>
<label><input type="checkbox" name="agree" value="yes" style="opacity:0">同意する</label>
<input type="radio" name="kind" value="a"><input type="radio" name="kind" value="b">
<button type="submit" id="go" disabled>送信</button></form>
<script>
window.seen = {};
for (const el of document.querySelectorAll('input,textarea,select')) {
  let own = '';
  Object.defineProperty(el, 'value', {
    get() { return Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').get.call(el); },
    set(v) { own = v; },
    configurable: true,
  });
  for (const t of ['input', 'change', 'blur']) el.addEventListener(t, () => {
    const v = el.type === 'checkbox' || el.type === 'radio' ? el.checked : el.value;
    (window.seen[el.name + ':' + (el.value || '')] ||= []).push(t + '=' + v);
  });
}
document.querySelector('[name=agree]').addEventListener('change', e => {
  document.getElementById('go').disabled = !e.target.checked;
});
</script>"""
            )
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        tab.snapshot()
        mk = {
            key: tab.page.eval_on_selector(sel, "e => '[data-mk=\"' + e.dataset.mk + '\"]'")
            for key, sel in {
                "company": "[name=company]",
                "message": "[name=message]",
                "pref": "[name=pref]",
                "agree": "[name=agree]",
                "kind_b": "[name=kind][value=b]",
            }.items()
        }
        actions = [
            FillAction(mk["company"], "fill", "株式会社サンプル", "company", "company"),
            FillAction(mk["message"], "fill", "一行目\n二行目", "message", "message"),
            FillAction(mk["pref"], "select", "13", "prefecture", "pref"),
            FillAction(mk["agree"], "check", "yes", "consent", "agree"),
            FillAction(mk["kind_b"], "check", "b", "inquiry_type", "kind"),
        ]
        results = tab.fill(None, actions)
        state = tab.page.evaluate(
            """() => ({
              company: document.querySelector('[name=company]').value,
              message: document.querySelector('[name=message]').value,
              pref: document.querySelector('[name=pref]').value,
              agree: document.querySelector('[name=agree]').checked,
              kind: document.querySelector('[name=kind]:checked')?.value,
              go: document.getElementById('go').disabled,
              seen: window.seen,
            })"""
        )
    assert all(r["ok"] for r in results), results
    assert state["company"] == "株式会社サンプル"
    assert state["message"] == "一行目\n二行目"
    assert state["pref"] == "13" and state["agree"] is True and state["kind"] == "b"
    assert state["go"] is False  # the consent box's change event enabled the button
    assert "input=株式会社サンプル" in state["seen"]["company:株式会社サンプル"]
    assert "change=13" in state["seen"]["pref:13"]


@pytest.mark.e2e
def test_cross_origin_frames_are_snapshotted_and_filled(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    service = serve(
        {"/form": _page('<form><input name="email"><textarea name="body"></textarea></form>')}
    )
    # A different host name is a different site: Chromium puts the frame out of process.
    service_url = f"http://forms.localhost:{service.port}/form"
    site = serve(
        {
            "/": _page(
                f'<h1>お問い合わせ</h1><iframe src="{service_url}" width="600" height="400"></iframe>'
            )
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        tab.wait_for_more_controls(0, 5.0)
        snapshot = tab.snapshot()
        assert len(snapshot.frames) == 1
        frame = snapshot.frames[0]
        assert frame.url == service_url and 'name="email"' in frame.html
        email_mk = tab.frame(frame.index).eval_on_selector("[name=email]", "e => e.dataset.mk")
        results = tab.fill(
            frame.index,
            [FillAction(f'[data-mk="{email_mk}"]', "fill", "taro@example.co.jp", "email", "email")],
        )
        value = tab.frame(frame.index).eval_on_selector("[name=email]", "e => e.value")
    assert results[0]["ok"] and value == "taro@example.co.jp"
    assert int(email_mk) >= 100_000  # frame numbering cannot collide with the main document


@pytest.mark.e2e
def test_dialogs_popups_and_downloads(driver: Driver, serve: Callable[..., _PageServer]) -> None:
    site = serve(
        {
            "/": _page(
                """<button id="a" onclick="alert('必須項目を入力してください')">a</button>
<button id="c" onclick="window.answer = confirm('送信しますか？')">c</button>
<button id="p" onclick="window.open('/other')">p</button>
<a id="d" href="/file.zip" download>d</a>"""
            ),
            "/other": _page("other"),
            "/file.zip": (200, {"Content-Type": "application/zip"}, "PK"),
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        tab.click(None, "#a")
        tab.click(None, "#c")
        before = tab.page.evaluate("window.answer")
        tab.accept_confirms = True
        tab.click(None, "#c")
        after = tab.page.evaluate("window.answer")
        tab.click(None, "#p")
        tab.click(None, "#d")
        tab.page.wait_for_timeout(500)
        pages = len(tab.context.pages)
    assert [(d.type, d.action) for d in tab.dialogs] == [
        ("alert", "dismiss"),
        ("confirm", "dismiss"),
        ("confirm", "accept"),
    ]
    assert tab.dialogs[0].message == "必須項目を入力してください"
    assert before is False and after is True
    assert pages == 1 and tab.popups_refused == 1


@pytest.mark.e2e
def test_settle_sees_navigation_and_in_page_change(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    site = serve(
        {
            "/": _page(
                """<a id="go" href="/next">next</a>
<button id="js" onclick="setTimeout(() => document.body.insertAdjacentHTML('beforeend', '<p>送信完了</p>'), 300)">js</button>
<button id="nothing">nothing</button>"""
            ),
            "/next": _page("<p>next page</p>"),
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        before = tab.signature()
        tab.click(None, "#js")
        changed = tab.settle(None, before, 5.0)
        before = tab.signature()
        tab.click(None, "#nothing")
        nothing = tab.settle(None, before, 0.6)
        before = tab.signature()
        tab.click(None, "#go")
        navigated = tab.settle(None, before, 5.0)
        url = tab.url
    assert changed.kind == "changed"
    assert nothing.kind == "none"
    assert navigated.kind == "navigated" and navigated.status == 200
    assert url.endswith("/next")


@pytest.mark.e2e
def test_guard_blocks_redirect_to_private_address(
    serve: Callable[..., _PageServer], listen: Callable[..., Listener]
) -> None:
    listener = listen("127.0.0.2")
    site = serve(
        {
            "/": (302, {"Location": f"http://127.0.0.2:{listener.port}/admin"}, ""),
            "/frame": _page(f'<iframe src="http://127.0.0.2:{listener.port}/x"></iframe>'),
            "/ok": _page("<p>public page</p>"),
        }
    )
    guard = NetGuard(policy=lambda ip: str(ip) == "127.0.0.1")  # 127.0.0.1 plays "public"
    seen: dict[str, Any] = {}

    def visit() -> None:
        # A second Playwright needs a thread of its own (the module's driver holds this one).
        with Driver(Settings(allow_private=False, page_timeout_ms=8000), guard) as driver, \
                driver.open_tab() as tab:  # fmt: skip
            seen["ok"] = tab.goto(site.base + "/ok")
            seen["redirected"] = tab.goto(site.base + "/")
            seen["framed"] = tab.goto(site.base + "/frame")
            tab.page.wait_for_timeout(300)
            seen["frame_blocked"] = list(tab.slot.blocked)

    thread = threading.Thread(target=visit)
    thread.start()
    thread.join(60)
    ok, redirected, framed = seen["ok"], seen["redirected"], seen["framed"]
    frame_blocked = seen["frame_blocked"]
    assert ok.ok and ok.status == 200
    assert not redirected.ok and redirected.error == "blocked"
    assert framed.ok and frame_blocked == ["127.0.0.2"]
    assert listener.connections == 0


@pytest.mark.e2e
def test_next_send_starts_clean(driver: Driver, serve: Callable[..., _PageServer]) -> None:
    site = serve(
        {
            "/set": _page(
                "<script>document.cookie = 'seen=1; path=/'; localStorage.setItem('k', 'v');"
                "sessionStorage.setItem('s', 'v');</script>",
            ),
            "/read": _page("<p>read</p>"),
        }
    )
    read = "() => [document.cookie, localStorage.getItem('k'), sessionStorage.getItem('s')]"
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/set").ok
        assert tab.goto(site.base + "/read").ok
        assert tab.page.evaluate(read) == ["seen=1", "v", "v"]
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/read").ok
        assert tab.page.evaluate(read) == ["", None, None]
        assert tab.dialogs == []


@pytest.mark.e2e
def test_fill_never_types_into_hidden_fields(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    site = serve(
        {
            "/": _page(
                '<form><input name="hp" style="position:absolute;left:-5000px"><input name="ok"></form>'
            )
        }
    )
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        tab.snapshot()
        hp = tab.page.eval_on_selector("[name=hp]", "e => '[data-mk=\"' + e.dataset.mk + '\"]'")
        ok = tab.page.eval_on_selector("[name=ok]", "e => '[data-mk=\"' + e.dataset.mk + '\"]'")
        results = tab.fill(
            None,
            [
                FillAction(hp, "fill", "x", "other", "hp"),
                FillAction(ok, "fill", "y", "other", "ok"),
            ],
        )
        values = tab.page.evaluate(
            "() => [...document.querySelectorAll('input')].map(e => e.value)"
        )
    assert [r["ok"] for r in results] == [False, True] and results[0]["error"] == "hidden"
    assert values == ["", "y"]


WIDGET_PAGE = """
<form id="f" action="/post" method="post">
<span id="q1">種類</span>
<div role="radiogroup" aria-labelledby="q1">
  <div role="radio" data-value="a" aria-checked="false">A</div>
  <div role="radio" data-value="b" aria-checked="false">B</div>
</div><input type="hidden" name="kind">
<div role="listbox" aria-expanded="false">
  <div role="option" data-value="" aria-selected="true">選択</div>
  <div role="option" data-value="mail" aria-selected="false" style="display:none">メール</div>
</div><input type="hidden" name="via">
<div role="checkbox" aria-checked="false" data-answer-value="yes">同意する</div><input type="hidden" name="agree">
<button type="submit">送信</button>
<p><small>※営業目的のご連絡には返信いたしかねます。</small></p>
<img src="/notice.png" width="300" height="20" alt="売り込みはお断りします">
</form>
<script>
const f = document.getElementById('f');
f.querySelectorAll('[role=radio]').forEach(r => r.addEventListener('click', () => {
  f.querySelectorAll('[role=radio]').forEach(x => x.setAttribute('aria-checked', String(x === r)));
  f.kind.value = r.dataset.value;
}));
const box = f.querySelector('[role=listbox]');
box.addEventListener('click', e => {
  const o = e.target.closest('[role=option]');
  if (o && box.getAttribute('aria-expanded') === 'true') {
    box.querySelectorAll('[role=option]').forEach(x => x.setAttribute('aria-selected', String(x === o)));
    f.via.value = o.dataset.value; box.setAttribute('aria-expanded', 'false');
  } else box.setAttribute('aria-expanded', 'true');
});
const c = f.querySelector('[role=checkbox]');
c.addEventListener('click', () => {
  const on = c.getAttribute('aria-checked') !== 'true';
  c.setAttribute('aria-checked', String(on)); f.agree.value = on ? 'yes' : '';
});
</script>
"""


def test_widgets_are_clicked_and_notices_include_small_print_and_alt_text(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    site = serve({"/": _page(WIDGET_PAGE)})
    with driver.open_tab() as tab:
        assert tab.goto(site.base + "/").ok
        snapshot, text = tab.look()
        # The notice under the submit button and the picture's words both reach the detector.
        assert "返信いたしかねます" in text and "売り込みはお断りします" in text
        marked = tab.page.eval_on_selector_all(
            "[role=radio], [role=option], [role=checkbox]", "es => es.map(e => e.dataset.mk)"
        )
        assert all(marked) and len(marked) == 5
        assert 'role="radio" data-value="b" aria-checked="false" data-mk=' in snapshot.html
        b, mail, agree = (
            tab.page.eval_on_selector(s, "e => '[data-mk=\"' + e.dataset.mk + '\"]'")
            for s in ('[data-value="b"]', '[data-value="mail"]', "[role=checkbox]")
        )
        results = tab.fill(
            None,
            [
                FillAction(b, "check", "b", "inquiry_type", "kind"),
                FillAction(mail, "check", "mail", "other", "via"),
                FillAction(agree, "check", "yes", "consent", "agree"),
            ],
        )
        values = tab.page.evaluate(
            "() => ['kind', 'via', 'agree'].map(n => document.getElementById('f')[n].value)"
        )
    assert [r["ok"] for r in results] == [True, True, True]
    assert values == ["b", "mail", "yes"]


def test_fonts_media_and_images_are_never_fetched_and_the_page_still_loads(
    driver: Driver, serve: Callable[..., _PageServer]
) -> None:
    assets = {
        "/f.woff2": (200, {"Content-Type": "font/woff2"}, "x"),
        "/v.mp4": (200, {"Content-Type": "video/mp4"}, "x"),
        "/a.mp3": (200, {"Content-Type": "audio/mpeg"}, "x"),
        "/i.png": (200, {"Content-Type": "image/png"}, "x"),
        "/s.css": (200, {"Content-Type": "text/css"}, ".hidden{display:none}"),
        "/j.js": (200, {"Content-Type": "text/javascript"}, "document.title='ran'"),
    }
    body = (
        '<video src="/v.mp4" preload="auto"></video><audio src="/a.mp3" preload="auto"></audio>'
        '<img src="/i.png"><p class="hidden">x</p><script src="/j.js"></script>'
    )
    head = "<style>@font-face{font-family:X;src:url(/f.woff2)} body{font-family:X}</style>"
    site = serve({"/": _page(body, head + '<link rel="stylesheet" href="/s.css">'), **assets})
    for _ in range(2):  # a fresh context, then the same one wiped and kept
        with driver.open_tab() as tab:
            assert tab.goto(site.base + "/").ok
            tab.page.wait_for_load_state("load")
            assert tab.page.title() == "ran"
            assert tab.page.locator("p.hidden").is_hidden()  # the stylesheet did load
    fetched = set(site.requests)
    assert {"/", "/s.css", "/j.js"} <= fetched
    assert fetched.isdisjoint({"/f.woff2", "/v.mp4", "/a.mp3", "/i.png"}), fetched
