"""Website domains as the identity of a prospect: one company, one normalized domain.

Prospects are deduplicated, suppressed and "already contacted" by this one string, so every
path that stores or compares a domain goes through :func:`normalize_domain`.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["normalize_domain"]

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Full-width and ideographic dots that Japanese input methods produce inside host names.
_DOTS = str.maketrans({"。": ".", "．": ".", "｡": "."})
_MAX_DOMAIN = 253
_SPACE = re.compile(r"\s")


def _host_of(text: str) -> str:
    text = text.strip().translate(_DOTS)
    if "//" not in text:
        # A bare host ("www.example.co.jp/contact") parses as a path without a scheme.
        text = "//" + text
    parts = urlsplit(text)
    host = parts.hostname or ""
    return host


def _idna(host: str) -> str | None:
    labels = host.split(".")
    out: list[str] = []
    for label in labels:
        if not label:
            return None
        if label.isascii():
            out.append(label.lower())
            continue
        try:
            out.append(label.encode("idna").decode("ascii").lower())
        except UnicodeError:
            return None
    return ".".join(out)


# The common case, an ASCII http(s) URL or host name, without urllib or IDNA (imports call this
# a million times).
_FAST = re.compile(
    r"(?:https?://)?(?:www\.)?((?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z][a-z0-9-]{0,62}(?<!-))\.?"
    r"(?::\d{1,5})?(?:[/?#][^\s]*)?",
    re.IGNORECASE,
)


def normalize_domain(url_or_host: str | None) -> str | None:
    """``"https://WWW.Example.co.jp:8443/contact?x=1"`` → ``"example.co.jp"``.

    Lower-cased, IDNA-encoded (``例え.jp`` → ``xn--r8jz45g.jp``), without ``www.``, port,
    path, query or credentials. IP addresses are kept as they are (``127.0.0.2``). Returns
    ``None`` for anything that is not a plausible host name.
    """
    if not url_or_host:
        return None
    text = str(url_or_host).strip()
    if not text or _SPACE.search(text):
        return None
    fast = _FAST.fullmatch(text) if text.isascii() else None
    if fast is not None:
        domain = fast.group(1).lower()
        if "." in domain and len(domain) <= _MAX_DOMAIN:
            return domain
    try:
        host = _host_of(text)
    except ValueError:  # e.g. an invalid IPv6 literal or port
        return None
    host = host.rstrip(".")
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    domain = _idna(host)
    if domain is None:
        return None
    if domain.startswith("www.") and domain.count(".") >= 2:
        domain = domain[4:]
    labels = domain.split(".")
    if len(domain) > _MAX_DOMAIN or not all(_LABEL.match(label) for label in labels):
        return None
    # A single label is only a host on loopback ("localhost"); a real company site has a TLD.
    if len(labels) < 2 and domain != "localhost":
        return None
    if labels[-1].isdigit():
        return None
    return domain
