"""Form classification and the choice of the inquiry form."""

from __future__ import annotations

from formfill._types import FormChoice, FormInfo, PageSnapshot


def classify_forms(html: str, url: str) -> list[FormInfo]:
    """Classify every form of a document (first implementation: none)."""
    return []


def find_inquiry_form(snapshot: PageSnapshot) -> FormChoice | None:
    """Pick the inquiry form of the page or of one of its frames, or None."""
    return None
