from __future__ import annotations

import pytest

from shared.domains import normalize_domain


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://WWW.Example.co.jp:8443/contact?x=1#top", "example.co.jp"),
        ("http://example.co.jp", "example.co.jp"),
        ("example.co.jp", "example.co.jp"),
        ("www.example.co.jp/inquiry/", "example.co.jp"),
        ("EXAMPLE.COM.", "example.com"),
        ("http://user:secret@shop.example.jp/", "shop.example.jp"),
        ("https://例え.jp/お問い合わせ", "xn--r8jz45g.jp"),
        ("www.例え。jp", "xn--r8jz45g.jp"),
        ("xn--r8jz45g.jp", "xn--r8jz45g.jp"),
        ("http://127.0.0.2:8001/site/", "127.0.0.2"),
        ("http://localhost:8000/", "localhost"),
        ("http://www.jp/", "www.jp"),  # only a real "www." label in front is dropped
        ("https://sub.www.example.jp", "sub.www.example.jp"),
    ],
)
def test_normalizes(given: str, expected: str) -> None:
    assert normalize_domain(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "",
        "   ",
        "not a url",
        "http://",
        "foo",
        "http://exa_mple.com",
        "http://-bad-.jp",
        "http://example.123",
        "http://" + "a" * 64 + ".jp",
        None,
        "http://[::1",
        "a..b.jp",
    ],
)
def test_rejects_what_is_not_a_host(given: str | None) -> None:
    assert normalize_domain(given) is None


def test_the_same_company_in_every_spelling_is_one_domain() -> None:
    spellings = [
        "https://www.sakura-tech.co.jp/",
        "http://SAKURA-TECH.co.jp:80/about",
        "sakura-tech.co.jp",
        "www.sakura-tech.co.jp/contact?ref=1",
    ]
    assert {normalize_domain(s) for s in spellings} == {"sakura-tech.co.jp"}
