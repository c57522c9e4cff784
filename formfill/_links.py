"""Contact-page discovery."""

from __future__ import annotations

from formfill._types import LinkCandidate, PageSnapshot


def discover_contact_links(snapshot: PageSnapshot) -> list[LinkCandidate]:
    """Links that probably lead to the inquiry form, best first (first implementation: none)."""
    return []
