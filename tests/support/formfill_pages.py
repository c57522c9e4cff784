"""The saved HTML pages of tests/formfill/pages/ and the forms the form engine finds in them."""

from __future__ import annotations

from pathlib import Path

from formfill import FormInfo, classify_forms

PAGES = Path(__file__).parents[1] / "formfill" / "pages"


def page(name: str) -> str:
    """The HTML of tests/formfill/pages/<name>."""
    return (PAGES / name).read_text(encoding="utf-8")


def contact_form(html: str, url: str = "https://example.jp/contact/") -> FormInfo:
    """The single contact form of ``html``."""
    forms = [f for f in classify_forms(html, url) if f.kind == "contact"]
    assert len(forms) == 1, [(f.index, f.kind) for f in classify_forms(html, url)]
    return forms[0]


def roles(form: FormInfo) -> dict[str, str]:
    """name → role of every named field."""
    return {f.name: f.role for f in form.fields if f.name}
