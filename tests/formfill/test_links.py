"""Contact-page discovery and the choice of the inquiry form across frames."""

from __future__ import annotations

from formfill import FrameSnapshot, PageSnapshot, discover_contact_links, find_inquiry_form
from tests.support.formfill_pages import page

TOP = "https://www.example.co.jp/"


def links(html: str, url: str = TOP) -> list[str]:
    return [c.url for c in discover_contact_links(PageSnapshot(url=url, html=html))]


def test_nav_link_first_and_exclusions() -> None:
    html = """<html><body><header><nav><ul>
    <li><a href="/company/">会社概要</a></li><li><a href="/contact/">お問い合わせ</a></li></ul></nav></header>
    <main><a href="mailto:info@example.co.jp">お問い合わせはメールで</a><a href="tel:0312345678">電話でお問い合わせ</a>
    <a href="javascript:void(0)">お問合せ</a><a href="#contact">お問い合わせ</a>
    <a href="/recruit/entry/">採用に関するお問い合わせ</a><a href="/privacy/">プライバシーポリシー</a>
    <a href="/news/1">新着情報</a></main></body></html>"""
    found = links(html)
    assert found[0] == "https://www.example.co.jp/contact/"
    assert "https://www.example.co.jp/privacy/" not in found
    assert "https://www.example.co.jp/news/1" not in found
    assert not any(u.startswith(("mailto:", "tel:", "javascript:")) for u in found)
    assert found.index("https://www.example.co.jp/recruit/entry/") > 0


def test_footer_image_link_by_alt() -> None:
    html = """<body><main><p>ようこそ</p></main><footer><a href="inquiry.html"><img src="btn.png" alt="お問合せ"></a></footer></body>"""
    candidates = discover_contact_links(PageSnapshot(url=TOP + "index.html", html=html))
    assert candidates[0].url == "https://www.example.co.jp/inquiry.html"
    assert candidates[0].text == "お問合せ"


def test_url_only_and_english_and_variants() -> None:
    html = """<body><a href="/toiawase/">→</a><a href="/en/contact-us">Contact us</a>
    <a href="/soudan">無料ご相談</a><a href="/doc">資料請求・お問い合わせ</a><a href="/about">About</a></body>"""
    found = [
        c.url for c in discover_contact_links(PageSnapshot(url=TOP, html=html)) if c.score >= 5
    ]
    assert set(found) == {
        "https://www.example.co.jp/toiawase/",
        "https://www.example.co.jp/en/contact-us",
        "https://www.example.co.jp/soudan",
        "https://www.example.co.jp/doc",
    }


def test_form_service_links_and_iframes() -> None:
    html = """<body><a href="https://docs.google.com/forms/d/e/abc/viewform">フォーム</a>
    <iframe src="https://tayori.com/form/xyz"></iframe><iframe src="https://www.youtube.com/embed/1"></iframe></body>"""
    cands = discover_contact_links(PageSnapshot(url=TOP, html=html))
    assert {c.url for c in cands} == {
        "https://docs.google.com/forms/d/e/abc/viewform",
        "https://tayori.com/form/xyz",
    }
    assert {c.source for c in cands} == {"form_service", "iframe"}


def test_same_page_is_not_a_candidate() -> None:
    assert links('<a href="/contact/">お問い合わせ</a>', "https://www.example.co.jp/contact/") == []


def test_find_inquiry_form_skips_newsletter_and_comment() -> None:
    choice = find_inquiry_form(PageSnapshot(url=TOP, html=page("traps.html")))
    assert choice is not None and choice.frame_index is None
    assert choice.form.index == 0
    assert find_inquiry_form(PageSnapshot(url=TOP, html=page("wp_comment.html"))) is None
    multi = find_inquiry_form(PageSnapshot(url=TOP, html=page("multi_forms.html")))
    assert multi is not None and multi.form.index == 3


def test_find_inquiry_form_in_a_cross_origin_frame() -> None:
    frame_html = """<form action="https://formzu.net/sfgen.ex"><p>お名前<input name="n"></p>
    <p>メールアドレス<input name="m" type="email"></p><p>お問い合わせ内容<textarea name="q"></textarea></p>
    <input type="submit" value="送信"></form>"""
    snap = PageSnapshot(
        url=TOP + "contact/",
        html='<form role="search"><input name="s"></form><iframe src="https://formzu.net/fgen.ex?ID=1"></iframe>',
        frames=(
            FrameSnapshot(url="https://ads.example/x", html="<p>ad</p>", index=0),
            FrameSnapshot(url="https://formzu.net/fgen.ex?ID=1", html=frame_html, index=1),
        ),
    )
    choice = find_inquiry_form(snap)
    assert choice is not None
    assert choice.frame_index == 1 and choice.form.frame_index == 1
    assert [f.role for f in choice.form.fields] == ["name", "email", "message"]


def test_no_form_at_all() -> None:
    assert (
        find_inquiry_form(
            PageSnapshot(url=TOP, html="<p>電話でお問い合わせください 03-0000-0000</p>")
        )
        is None
    )


def test_company_pages_are_weak_candidates_for_a_second_level() -> None:
    html = """<header><nav><a href="/business/">事業紹介</a><a href="/corporate/">企業情報</a>
    <a href="/recruit/">採用情報</a></nav></header><footer><a href="/privacy/">個人情報保護方針</a></footer>"""
    cands = discover_contact_links(PageSnapshot(url=TOP, html=html))
    assert [c.url for c in cands] == ["https://www.example.co.jp/corporate/"]
    assert cands[0].score < 5
    strong = discover_contact_links(
        PageSnapshot(url=TOP, html=html + '<a href="/contact/">お問い合わせ</a>')
    )
    assert strong[0].url.endswith("/contact/")
