"""The first look's decisions on static HTML (formfill/_first_look.py): only what the browser
would read the same way ends a send; anything scripts, frames or stylesheets could change is
left to the browser."""

from __future__ import annotations

from formfill import FirstLookVerdict, StaticPage, judge_contact_page, judge_top_page
from formfill._dom import Doc

TOP = "https://example.co.jp/"
CONTACT = "https://example.co.jp/contact/"
REFUSAL = "<p>営業目的のお問い合わせはご遠慮ください。</p>"
FORM = "<form><input name=name><textarea name=message></textarea><button>送信</button></form>"
RECAPTCHA = '<script src="https://www.google.com/recaptcha/api.js" async defer></script>'
NAV = '<header><nav><a href="/company/">会社概要</a><a href="/contact/">お問い合わせ</a></nav></header>'


def page(body: str, head: str = "", url: str = TOP) -> StaticPage:
    return StaticPage(url, f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>")


def top(body: str, head: str = "", css: list[str] | None = None) -> FirstLookVerdict:
    return judge_top_page(page(body, head), TOP, css)


def contact(body: str, head: str = "", css: list[str] | None = None) -> FirstLookVerdict:
    return judge_contact_page(page(body, head, CONTACT), css)


# --- the top page ------------------------------------------------------------------------------


def test_a_captcha_script_on_the_top_page_ends_the_send() -> None:
    verdict = top(NAV + FORM, head=RECAPTCHA)
    assert (verdict.action, verdict.kind) == ("end", "captcha")


def test_a_captcha_named_only_in_a_comment_is_not_one() -> None:
    verdict = top(NAV + "<!-- old: g-recaptcha -->")
    assert verdict.action == "fetch"


def test_a_page_that_leaves_before_the_browser_reads_it_is_the_browsers() -> None:
    refresh = '<meta http-equiv="refresh" content="0; url=/new/">'
    assert top(RECAPTCHA, head=refresh).action == "defer"
    assert top(RECAPTCHA + "<script>location.replace('/new/')</script>").action == "defer"
    shadow = '<div><template shadowrootmode="open"><div class="g-recaptcha"></div></template></div>'
    assert top(shadow).action == "defer"


def test_an_inert_top_page_without_contact_links_has_no_contact_page() -> None:
    verdict = top(
        '<header><a href="/">ホーム</a><a href="/company/">事業内容</a></header><p>ようこそ</p>'
    )
    assert (verdict.action, verdict.kind) == ("end", "no_contact_page")


def test_a_top_page_with_scripts_is_the_browsers_even_without_links() -> None:
    # A script may render the form or the links the static HTML lacks.
    assert top("<p>ようこそ</p><script>render()</script>").action == "defer"
    assert top('<p>ようこそ</p><script src="/app.js"></script>').action == "defer"
    assert top('<p onclick="go()">ようこそ</p>').action == "defer"
    assert top('<iframe src="/frame.html"></iframe>').action == "defer"


def test_data_scripts_do_not_run() -> None:
    ld = '<script type="application/ld+json">{"@type": "Organization"}</script>'
    assert top("<p>ようこそ</p>", head=ld).kind == "no_contact_page"


def test_a_form_on_the_top_page_is_the_browsers() -> None:
    assert top(NAV + FORM).action == "defer"


def test_the_contact_link_to_read_is_the_first_the_browser_would_open() -> None:
    verdict = top(NAV)
    assert (verdict.action, verdict.url) == ("fetch", CONTACT)


def test_a_link_back_to_the_start_page_is_not_opened() -> None:
    # The browser skips the URL it started from (worker/engine.py _find_form).
    verdict = judge_top_page(page('<a href="/contact/">お問い合わせ</a>'), CONTACT)
    assert verdict.action == "defer"


def test_a_refusal_on_the_top_page_ends_the_send() -> None:
    verdict = top(NAV + REFUSAL)
    assert (verdict.action, verdict.kind) == ("end", "refused")


# --- the contact page --------------------------------------------------------------------------


def test_a_captcha_on_the_contact_page_ends_the_send_even_with_scripts() -> None:
    verdict = contact(FORM + '<div class="cf-turnstile"></div><script src="/x.js"></script>')
    assert (verdict.action, verdict.kind) == ("end", "captcha")


def test_a_plain_contact_page_is_the_browsers() -> None:
    assert contact(FORM).action == "defer"


def test_a_refusal_on_an_inert_contact_page_ends_the_send() -> None:
    verdict = contact(REFUSAL + FORM)
    assert (verdict.action, verdict.kind) == ("end", "refused")
    assert "ご遠慮" in verdict.note


def test_a_refusal_in_an_image_alt_counts() -> None:
    verdict = contact('<img src="/n.png" alt="営業のご連絡はお断りしております">' + FORM)
    assert verdict.kind == "refused"


def test_a_welcome_is_no_refusal() -> None:
    assert contact("<p>営業・ご提案もこちらからお気軽にどうぞ。</p>" + FORM).action == "defer"


def test_a_refusal_on_a_page_with_scripts_is_the_browsers() -> None:
    # A script may add a CAPTCHA (the browser reads that first) or hide the notice.
    assert contact(REFUSAL + FORM + "<script>init()</script>").action == "defer"


def test_a_hidden_refusal_is_not_read_as_shown() -> None:
    hidden = contact('<p style="display:none">営業目的のお問い合わせはご遠慮ください。</p>' + FORM)
    assert hidden.action == "defer"
    closed = contact(f"<details><summary>注意</summary>{REFUSAL}</details>" + FORM)
    assert closed.action == "defer"


def test_linked_stylesheets_are_read_before_a_refusal_counts() -> None:
    head = '<link rel="stylesheet" href="/css/site.css">'
    body = f'<div class="note">{REFUSAL}</div>' + FORM
    assert contact(body, head).action == "need_css"
    assert page(body, head).stylesheets == ["https://example.co.jp/css/site.css"]
    # Rules that hide nothing, or hide other classes: the notice is shown.
    assert contact(body, head, ["body { color: #333 } .modal { display: none }"]).kind == "refused"
    # The rule hides the notice's own class.
    assert contact(body, head, [".note { display: none }"]).action == "defer"
    # A rule that hides by a selector the markup cannot name (tabs, pseudo-classes).
    assert contact(body, head, [".tabs > div:not(.active) { display: none }"]).action == "defer"
    assert contact(body, head, ['@import url("more.css");']).action == "defer"


def test_an_undecodable_page_is_the_browsers() -> None:
    assert contact("\ufffd\ufffd" + REFUSAL + FORM).action == "defer"


# --- the text reading --------------------------------------------------------------------------


def test_lines_break_where_blocks_do() -> None:
    doc = Doc(
        "<body><h2>営業の\n  ご連絡について</h2><p>お断り<br>します</p><span>a</span> <b>b</b></body>"
    )
    assert doc.lines(doc.root.find("body")) == "営業の ご連絡について\nお断り\nします\na b"
