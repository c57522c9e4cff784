"""The browser-free first look: what a page's static HTML alone settles before a browser opens it.

The worker fetches a prospect's top page (and the contact page it links to) with a plain HTTP
client and asks :func:`judge_top_page` / :func:`judge_contact_page`. A verdict ends the send only
on evidence the browser would see in the same order the engine reads it (docs/rules.md#outcomes,
worker/engine.py): a CAPTCHA first, then a refusal notice, then the inquiry form, then the contact
links. Whatever scripts, frames or stylesheets could change is left to the browser ("defer").

What each verdict needs of the page:

- ``captcha``: a CAPTCHA marker (:func:`detect_captcha`) outside comments, on a page that no
  inline script or ``<meta http-equiv=refresh>`` sends elsewhere before the browser reads it.
- ``refused``: besides, an *inert* page (no script, no frame, no event-handler attribute) whose
  visibility the markup settles (every stylesheet rule that hides something names a class or an
  id), and a refusal read the same way from the shown text and from all of the text, line by
  line and run together.
- on the top page, before the contact page counts: no CAPTCHA, no refusal in any reading, no
  ``<textarea>`` and no inquiry form; ``no_contact_page`` when such a page has no contact link.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urldefrag, urljoin

from lxml.html import HtmlElement

from formfill._dom import Doc, stylesheet_hiding, tag_of
from formfill._forms import find_inquiry_form
from formfill._links import discover_contact_links
from formfill._notices import detect_captcha, detect_refusal
from formfill._types import PageSnapshot

Action = Literal["end", "defer", "fetch", "need_css"]
Kind = Literal["captcha", "refused", "no_contact_page"]

_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_META_REFRESH = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?\s*refresh", re.I)
# Script words that leave the page or write it over while it loads.
_NAVIGATES = re.compile(
    r"location\s*(?:\.\s*(?:href|replace|assign|reload)\b|=)|document\s*\.\s*write|\.submit\s*\(",
    re.I,
)
# Script types a browser does not run.
_DATA_SCRIPT = re.compile(
    r"^\s*(?:application/(?:ld\+)?json|text/(?:x-)?template|importmap)\b", re.I
)
_ACTIVE_TAGS = ("iframe", "frame", "frameset", "object", "embed", "portal", "applet")


@dataclass(frozen=True, slots=True)
class FirstLookVerdict:
    """What to do after reading one page statically.

    ``end``: the send's outcome is ``kind`` (``captcha``, ``refused``, ``no_contact_page``);
    ``fetch``: read ``url`` (the contact link the browser would open first) and judge it with
    :func:`judge_contact_page`; ``need_css``: read the page's ``stylesheets`` and judge again
    with their text; ``defer``: the browser decides. ``note`` says why, for the evidence.
    """

    action: Action
    kind: Kind | None = None
    note: str = ""
    url: str | None = None


@dataclass
class StaticPage:
    """One fetched document, parsed once for every question the first look asks of it."""

    url: str
    html: str
    doc: Doc = field(init=False)

    def __post_init__(self) -> None:
        self.doc = Doc(self.html, self.url)

    @property
    def snapshot(self) -> PageSnapshot:
        return PageSnapshot(url=self.url, html=self.html)

    @property
    def stylesheets(self) -> list[str]:
        """The absolute URLs of the stylesheets the page links to."""
        found: list[str] = []
        for link in self.doc.root.iter("link"):
            rel = (link.get("rel") or "").lower().split()
            href = (link.get("href") or "").strip()
            if "stylesheet" in rel and href:
                found.append(urldefrag(urljoin(self.url, href))[0])
        return list(dict.fromkeys(found))

    def undecodable(self) -> bool:
        """Characters lost in decoding: nothing read from the text can be trusted."""
        return "\ufffd" in self.html

    def leaves_early(self) -> str | None:
        """Why the browser may read another document than this one, or None."""
        if _META_REFRESH.search(self.html):
            return "meta refresh"
        if self.doc.root.xpath("//template[@shadowrootmode or @shadowroot][1]"):
            # Declarative shadow DOM: what it holds is shown, but not serialized as the browser
            # snapshot reads the page.
            return "a shadow root"
        for script in self.doc.root.iter("script"):
            if _runs(script) and script.text and _NAVIGATES.search(script.text):
                return "a script that navigates or writes the page"
        return None

    def captcha(self) -> str | None:
        return detect_captcha(_COMMENT.sub("", self.html))

    def active_content(self) -> str | None:
        """What in the page runs or loads a document of its own (a script, a frame, an event
        handler attribute), or None for an inert page."""
        root = self.doc.root
        for script in root.iter("script"):
            if _runs(script):
                return "script"
        for el in root.iter(*_ACTIVE_TAGS):
            return tag_of(el)
        if root.xpath("//@*[starts-with(translate(name(), 'ON', 'on'), 'on')][1]"):
            return "event handler attribute"
        return None

    def visibility_settled(self, stylesheets: Sequence[str]) -> bool:
        """Whether the markup and ``stylesheets`` (the linked ones' text) tell everything that
        is hidden: every hiding rule names a class or an id, and no closed ``<details>`` or
        ``<dialog>`` hides content by the browser's own rules. The classes and ids found are
        counted as hidden from now on."""
        classes: set[str] = set()
        ids: set[str] = set()
        inline = [style.text or "" for style in self.doc.root.iter("style")]
        settled = all([stylesheet_hiding(css, classes, ids) for css in [*inline, *stylesheets]])
        self.doc.hide_also(classes, ids)
        for el in self.doc.root.iter("details", "dialog"):
            if el.get("open") is None:
                settled = False
        return settled

    def refusal_readings(self) -> tuple[str | None, bool]:
        """The refusal sentence of the shown text (None if none) and whether every reading
        agrees: shown or all text, one block per line or run together."""
        body = self.doc.root.find("body")
        if body is None:
            body = self.doc.root
        doc = self.doc
        shown_alts = "\n".join(
            (img.get("alt") or "").strip()
            for img in body.iter("img", "area", "input")
            if (img.get("alt") or "").strip() and not doc.is_hidden(img)
        )
        all_alts = "\n".join(
            (img.get("alt") or "").strip()
            for img in body.iter("img", "area", "input")
            if (img.get("alt") or "").strip()
        )
        readings = [
            doc.lines(body) + "\n" + shown_alts,
            doc.text(body),
            doc.lines(body, visible_only=False, skip_controls=False) + "\n" + all_alts,
            doc.text(body, visible_only=False, skip_controls=False),
        ]
        found = [detect_refusal(text) for text in readings]
        agree = all(f is None for f in found) or all(f is not None for f in found)
        return found[0], agree


def _runs(script: HtmlElement) -> bool:
    return not _DATA_SCRIPT.match(script.get("type") or "")


def _key(url: str) -> str:
    return urldefrag(url)[0].rstrip("/")


def _refusal_verdict(page: StaticPage, stylesheets: Sequence[str] | None) -> FirstLookVerdict:
    """``end``/``refused`` when every reading finds the refusal and the visibility is settled;
    ``need_css`` to read the linked stylesheets first; ``defer`` on any doubt; an empty
    ``defer`` note ("") when no reading finds one."""
    sentence, agree = page.refusal_readings()
    if not agree:
        return FirstLookVerdict("defer", note="the readings of the text disagree on a refusal")
    if sentence is None:
        return FirstLookVerdict("defer")
    if stylesheets is None and page.stylesheets:
        return FirstLookVerdict("need_css")
    if not page.visibility_settled(stylesheets or ()):
        return FirstLookVerdict("defer", note="stylesheets may hide the refusal")
    sentence, agree = page.refusal_readings()  # with what the stylesheets hide
    if sentence is None or not agree:
        return FirstLookVerdict("defer", note="the refusal may be hidden")
    return FirstLookVerdict("end", "refused", f"refusal on {page.url}: {sentence}")


def _common(page: StaticPage, stylesheets: Sequence[str] | None) -> FirstLookVerdict | None:
    """What a top page and a contact page share: undecodable, leaving, CAPTCHA, not inert,
    refusal. None when the page has none of them."""
    if page.undecodable():
        return FirstLookVerdict("defer", note="characters lost in decoding")
    leaves = page.leaves_early()
    if leaves:
        return FirstLookVerdict("defer", note=leaves)
    captcha = page.captcha()
    if captcha:
        return FirstLookVerdict("end", "captcha", f"captcha ({captcha}) on {page.url}")
    active = page.active_content()
    if active:
        return FirstLookVerdict("defer", note=f"{active} on {page.url}")
    refusal = _refusal_verdict(page, stylesheets)
    if refusal.action != "defer" or refusal.note:
        return refusal
    return None


def judge_top_page(
    page: StaticPage, start_url: str, stylesheets: Sequence[str] | None = None
) -> FirstLookVerdict:
    """The first look at a prospect's top page (``page``: the document its URL ``start_url``
    answered with, after redirects; ``stylesheets``: the text of its linked stylesheets once
    asked for with ``need_css``)."""
    verdict = _common(page, stylesheets)
    if verdict is not None:
        return verdict
    snapshot = page.snapshot
    if next(page.doc.root.iter("textarea"), None) is not None or find_inquiry_form(snapshot):
        return FirstLookVerdict("defer", note="a form on the top page")
    links = discover_contact_links(snapshot)
    if not links:
        return FirstLookVerdict("end", "no_contact_page", f"no contact link on {page.url}")
    visited = {_key(start_url), _key(page.url)}
    first = next((link.url for link in links if _key(link.url) not in visited), None)
    if first is None:
        return FirstLookVerdict("defer", note="no contact link to another page")
    return FirstLookVerdict("fetch", url=first)


def judge_contact_page(
    page: StaticPage, stylesheets: Sequence[str] | None = None
) -> FirstLookVerdict:
    """The first look at the contact page the browser would open first: a CAPTCHA or a refusal
    ends the send, anything else is the browser's."""
    verdict = _common(page, stylesheets)
    if verdict is not None:
        return verdict
    return FirstLookVerdict("defer", note=f"no CAPTCHA or refusal on {page.url}")
