"""URLs the pages hand out: redirects after a post and the list URL of a search."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import RedirectResponse

from shared.config import get_settings


def see_other(path: str, done: str = "") -> RedirectResponse:
    """Redirect after a successful post; ``done`` picks one of the fixed flash messages."""
    if done:
        path += ("&" if "?" in path else "?") + "done=" + quote(done)
    return RedirectResponse(path, status_code=303)


def list_url_of(query_string: str) -> str:
    """リストURL: the absolute URL of the search (what a reservation stores and re-runs)."""
    base = get_settings().public_base_url.rstrip("/")
    return f"{base}/prospects" + (f"?{query_string}" if query_string else "")
