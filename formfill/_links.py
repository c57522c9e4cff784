"""Contact-page discovery: which link of a company's page leads to its inquiry form."""

from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin, urlsplit

from lxml.html import HtmlElement

from formfill._dom import Doc, clean, norm, tag_of
from formfill._types import LinkCandidate, PageSnapshot

_STRONG = re.compile(
    r"お問い?合わ?せ|問い?合わ?せ|お問合わせ|contact ?us|contact|inquiry|enquiry|toiawase|otoiawase|ご相談|相談窓口|資料請求|お見積|見積"
)
_URL_WORDS = re.compile(
    r"contact|inquiry|enquiry|toiawase|otoiawase|form|soudan|mail ?form|mailform"
)
_FORM_SERVICES = re.compile(
    r"docs\.google\.com/forms|forms\.gle/|tayori\.com|formzu\.(?:net|com)|form\.run|formrun|hsforms\.(?:com|net)|share\.hsforms|hubspot\.com/.*form|forms\.office\.com|typeform\.com|jotform|formmailer|f\.msgs\.jp|pro\.form-mailer\.jp|ssl\.form-mailer\.jp"
)
_RECRUIT = re.compile(r"採用|求人|リクルート|recruit|career|entry|エントリー|応募|新卒|中途")
_NOT_CONTACT = re.compile(
    r"プライバシー|個人情報|privacy|policy|ポリシー|sitemap|サイトマップ|アクセス|access|faq|よくある質問|ログイン|login|会員登録|cart|カート"
)
# Pages that often hold the contact link one level down (「企業情報」 → 「お問い合わせ」): worth
# following when nothing better is on the page, so they rank far below any contact link.
_HUB = re.compile(
    r"企業情報|会社情報|会社概要|会社案内|企業概要|corporate|company|about ?us|^about$|会社について|当社について"
)
# A cheap first look (lower-cased raw text and href) so that the hundreds of article and tag
# links of a real top page cost almost nothing.
_PREFILTER = re.compile(
    r"問|合|相談|資料|見積|contact|inquir|enquir|toiawase|form|soudan|mail|企業|会社|当社|corporate|company|about|google|tayori|forms\.gle|hsforms|hubspot|typeform|jotform|msgs"
)
_LOCATION = re.compile(
    r"header|nav|menu|footer|gnav|global|g-nav|hnav|fnav|utility|head-|foot-|cta"
)


def discover_contact_links(snapshot: PageSnapshot) -> list[LinkCandidate]:
    """Links that probably lead to the inquiry form, best first, with absolute URLs.

    Scores link text, image alt, title and URL (お問い合わせ, CONTACT, inquiry, toiawase, …),
    weighs header, navigation and footer links more, and counts links to (and iframes of)
    form services. mailto:, tel:, javascript:, same-page anchors, privacy policies and other
    non-contact pages are left out; recruiting contact pages rank low.
    """
    doc = Doc(snapshot.html, snapshot.url)
    base = _base_url(doc, snapshot.url)
    page = urldefrag(snapshot.url)[0]
    host = urlsplit(snapshot.url).hostname or ""
    found: dict[str, LinkCandidate] = {}
    for el in doc.root.iter("a", "area", "iframe"):
        tag = tag_of(el)
        href = (el.get("src") if tag == "iframe" else el.get("href")) or ""
        href = href.strip()
        if tag != "iframe":
            raw = " ".join(
                [el.text_content(), el.get("title") or "", el.get("aria-label") or "", href]
                + [img.get("alt") or "" for img in el.iter("img")]
            ).lower()
            if not _PREFILTER.search(raw):
                continue
        if not href or re.match(r"(?i)(mailto|tel|javascript|data|sms|fax):", href):
            continue
        url = urljoin(base, href)
        if not url.startswith(("http://", "https://")):
            continue
        absolute = urldefrag(url)[0]
        if absolute == page or (href.startswith("#")):
            continue
        text = _link_text(doc, el)
        score = _score(doc, el, text, url, host)
        if tag == "iframe":
            if not _FORM_SERVICES.search(url.lower()):
                continue
            score = max(score, 9.0)
        if score <= 0:
            continue
        source = (
            "iframe"
            if tag == "iframe"
            else "form_service"
            if _FORM_SERVICES.search(url.lower())
            else tag
        )
        previous = found.get(absolute)
        if previous is None or score > previous.score:
            found[absolute] = LinkCandidate(
                url=absolute, score=round(score, 2), text=text, source=source
            )
    return sorted(found.values(), key=lambda c: -c.score)


def _base_url(doc: Doc, url: str) -> str:
    for base in doc.root.iter("base"):
        href = base.get("href")
        if href:
            return str(urljoin(url, href))
    return url


def _link_text(doc: Doc, el: HtmlElement) -> str:
    parts = [doc.text(el, visible_only=False)]
    for img in el.iter("img"):
        parts.append(img.get("alt") or "")
        parts.append(img.get("title") or "")
    parts.extend([el.get("title") or "", el.get("aria-label") or "", el.get("alt") or ""])
    unique: list[str] = []
    for part in (clean(p) for p in parts):
        if part and not any(part in u for u in unique):
            unique.append(part)
    return " ".join(unique)


def _score(doc: Doc, el: HtmlElement, text: str, url: str, host: str) -> float:
    t = norm(text).replace(" ", "") if re.search(r"[\u3040-\u9fff]", text) else norm(text)
    path = urlsplit(url).path.lower() + "?" + urlsplit(url).query.lower()
    score = 0.0
    if _STRONG.search(t):
        score += 10.0
        if re.search(r"お問い?合わ?せ|contact", t) and len(t) <= 20:
            score += 2.0
    if _URL_WORDS.search(path):
        score += 5.0 if re.search(r"contact|inquiry|toiawase|enquiry", path) else 2.0
    is_service = bool(_FORM_SERVICES.search(url.lower()))
    if is_service:
        score += 6.0
    if score <= 0:
        if _HUB.search(t) and not _RECRUIT.search(t):
            return 1.0
        return 0.0
    if _NOT_CONTACT.search(t) and not _STRONG.search(t):
        return 0.0
    if re.search(r"privacy|policy", path) and not _STRONG.search(t):
        return 0.0
    if _RECRUIT.search(t) or _RECRUIT.search(path):
        score *= 0.3
    link_host = urlsplit(url).hostname or ""
    if link_host and host and not _same_site(link_host, host) and not is_service:
        score *= 0.5
    for anc in doc.iter_ancestors(el):
        tag = tag_of(anc)
        ident = f"{anc.get('id') or ''} {anc.get('class') or ''}".lower()
        if tag in ("header", "nav", "footer") or (ident.strip() and _LOCATION.search(ident)):
            score += 2.0
            break
    if len(t) > 40:
        score -= 2.0
    return score


def _same_site(a: str, b: str) -> bool:
    a, b = a.removeprefix("www."), b.removeprefix("www.")
    return a == b or a.endswith("." + b) or b.endswith("." + a)
