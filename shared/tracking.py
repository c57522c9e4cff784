"""What an item's message carries for its 反響 (docs/rules.md#responses): its own reply
address, and click-counting redirects in place of the body's URLs.

Both are decided when the send job starts (``worker.jobs``), in the job's own transaction, so
the script that the item is actually sent with decides (A/B, a script changed while paused),
and a retried attempt reuses the item's token and links instead of making new ones.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import SendItem, TrackedLink

__all__ = [
    "REPLY_PREFIX",
    "URL_IN_TEXT",
    "message_script",
    "reply_address",
    "reply_token_of",
    "tracked_url",
]

# r-<token>@<domain>: the token is lower-case hex, safe in any mail system's local part
# (some lower-case every address they handle) and unguessable (80 bits).
REPLY_PREFIX = "r-"
_REPLY_TOKEN_BYTES = 10
_LINK_TOKEN_BYTES = 12
_REPLY_TOKEN = re.compile(f"[0-9a-f]{{{2 * _REPLY_TOKEN_BYTES}}}")

# A URL as members write it in Japanese prose: it ends at white space, at quotes and
# brackets, and at full-width text (「詳しくはhttps://example.jp/をご覧ください」 keeps only the
# URL); trailing sentence punctuation is not part of it.
URL_IN_TEXT = re.compile(r"https?://[!#-'*-;=?-Z\\^-z|~%]+", re.ASCII)
_TRAILING = ".,;:!?'"


def reply_address(token: str, domain: str) -> str:
    return f"{REPLY_PREFIX}{token}@{domain}"


def reply_token_of(address: str, domain: str) -> str | None:
    """The token of ``r-<token>@<domain>``, or None for any other address (case-insensitive,
    as mail systems treat the domain and often the local part)."""
    local, at, host = address.strip().strip("<>").rpartition("@")
    if not at or host.lower() != domain.lower() or not local.lower().startswith(REPLY_PREFIX):
        return None
    token = local[len(REPLY_PREFIX) :].lower()
    return token if _REPLY_TOKEN.fullmatch(token) else None


def tracked_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def _ensure_reply_token(item: SendItem) -> str:
    if not item.reply_token:
        item.reply_token = secrets.token_hex(_REPLY_TOKEN_BYTES)
    return item.reply_token


def _rewrite_links(db: Session, item: SendItem, body: str, base_url: str) -> str:
    """Each distinct URL of ``body`` becomes this item's redirect to it (one TrackedLink per
    URL per item, kept across attempts). Mikomi's own addresses (the opt-out link) stay as
    they are: the opt-out page must be reachable straight from the message."""
    links = {
        link.url: link
        for link in db.scalars(select(TrackedLink).where(TrackedLink.item_id == item.id))
    }
    base = base_url.rstrip("/")

    def replace(match: re.Match[str]) -> str:
        url = match.group(0)
        stripped = url.rstrip(_TRAILING)
        tail = url[len(stripped) :]
        if not stripped or stripped.startswith(base + "/"):
            return url
        link = links.get(stripped)
        if link is None:
            link = TrackedLink(
                token=secrets.token_urlsafe(_LINK_TOKEN_BYTES), item_id=item.id, url=stripped
            )
            db.add(link)
            links[stripped] = link
        return tracked_url(base, link.token) + tail

    rewritten = URL_IN_TEXT.sub(replace, body)
    db.flush()
    return rewritten


def message_script(
    db: Session,
    item: SendItem,
    script: Mapping[str, Any],
    *,
    reply_domain: str,
    public_base_url: str,
) -> dict[str, Any]:
    """The script as this item sends it. With ``capture_replies`` (and a reply domain) the
    form's e-mail fields get the item's reply address — the body, and any signature in it with
    the member's own address, is unchanged; with ``track_clicks`` the body's URLs become
    redirects. Otherwise the script itself."""
    content = dict(script)
    if content.get("capture_replies") and reply_domain:
        sender = dict(content.get("sender") or {})
        sender["email"] = reply_address(_ensure_reply_token(item), reply_domain)
        content["sender"] = sender
    if content.get("track_clicks"):
        content["body"] = _rewrite_links(db, item, str(content.get("body") or ""), public_base_url)
    return content
