"""Page-state classification after an action."""

from __future__ import annotations

from formfill._types import FillVariant, PageSnapshot, PageState


def classify_page(snapshot: PageSnapshot, form_selector_before: str | None = None) -> PageState:
    """What the page says now (first implementation: unknown)."""
    return PageState(kind="unknown")


def detect_refusal(text: str) -> str | None:
    """The 営業お断り notice in ``text``, or None."""
    return None


def detect_captcha(html: str) -> str | None:
    """The kind of CAPTCHA in ``html``, or None."""
    return None


def corrective_variant(state: PageState, previous: FillVariant) -> FillVariant | None:
    """The variant for the single corrective retry, or None."""
    return None
