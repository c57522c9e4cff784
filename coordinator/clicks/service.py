"""Click counting of tracked links (docs/rules.md#click-counting).

A tracked link ``<public base>/r/<token>`` redirects to the URL it stands for, and only to it
(the stored URL: nothing in the request can choose the target, so it is no open redirect).
What counts as a person's click: a GET, from a browser that is not a known link scanner or
preview bot, arriving after the first seconds that follow the send — mail security gateways
open every link of a message the moment it arrives, people do not. Every GET adds to the
link's own request count; the item's first human click adds one to the reservation's
``clicks``, once per item whatever the number of links or clicks.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from coordinator.clicks import repository
from shared import clock, events, locks
from shared.models import Reservation, SendItem

log = logging.getLogger(__name__)

# Requests this soon after the send are a mail gateway scanning the site's notification mail.
SCANNER_WINDOW = timedelta(seconds=10)

# User agents of link scanners, URL previewers and scripts: mail security gateways (Microsoft
# Defender Safe Links and Office's link checks, Proofpoint URL Defense, Mimecast, Barracuda,
# Trend Micro, Symantec/Broadcom, Sophos, Cisco, Fortinet), image and link proxies (Gmail's
# GoogleImageProxy), chat and social previews (Slackbot, facebookexternalhit, Twitterbot,
# LinkedInBot, Discordbot, TelegramBot, WhatsApp), any bot/crawler/spider, and HTTP libraries
# and command-line tools. In-app browsers (LINE, Twitter's, LinkedIn's) are people.
_SCANNER_UA = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|scan|preview|safelinks|office|outlook-ios-linkpreview|"
    r"ms-office|microsoft|bingpreview|proofpoint|mimecast|barracuda|trend ?micro|symantec|"
    r"broadcom|sophos|cisco|ironport|forti|googleimageproxy|ggpht\.com|google-read-aloud|"
    r"slack|facebookexternalhit|facebookcatalog|whatsapp|skypeuripreview|headless|phantomjs|python|curl/|wget|go-http-client|libwww|"
    r"java/|okhttp|axios|node-fetch|undici|apache-httpclient|aiohttp|httpx|http\.rb|"
    r"ruby|perl|php/|postman|insomnia|zgrab|masscan|nmap|nuclei",
    re.IGNORECASE,
)


def is_link_scanner(user_agent: str) -> bool:
    """True for a scanner's, previewer's or script's user agent, and for none at all (every
    browser sends one)."""
    return not user_agent.strip() or bool(_SCANNER_UA.search(user_agent))


def _sent_at(item: SendItem) -> datetime | None:
    """When the message left: the site's answer (finished), else the submit (submitting)."""
    return item.finished_at or item.submitting_at


def is_human_click(item: SendItem, user_agent: str, now: datetime) -> bool:
    sent_at = _sent_at(item)
    if sent_at is None:  # never submitted: nobody can have the message
        return False
    return now - sent_at >= SCANNER_WINDOW and not is_link_scanner(user_agent)


def follow(
    db: Session, token: str, *, method: str, user_agent: str, now: datetime | None = None
) -> str | None:
    """The URL a tracked link stands for (None: unknown token), counting the request."""
    if method == "GET":  # a GET that writes: SQLite's writer lock before the first read
        locks.writer_lock(db)
    link = repository.link_by_token(db, token)
    if link is None:
        return None
    if method != "GET":  # HEAD: a link checker asking whether the URL lives
        return link.url
    now = now or clock.now()
    repository.count_request(db, link.id)
    item = db.get(SendItem, link.item_id)
    if item is None or not is_human_click(item, user_agent, now):
        return link.url
    repository.mark_link_clicked(db, link.id, now)
    if repository.mark_item_clicked(db, item.id, item.reservation_id, now):
        reservation = db.get(Reservation, item.reservation_id)
        if reservation is not None:
            db.refresh(reservation)
            events.publish_after_commit(db, reservation)
        log.info("item %s: first click (reservation %s)", item.id, item.reservation_id)
    return link.url
