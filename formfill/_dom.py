"""The parsed document: visibility, selectors and the texts a person reads around a control.

One :class:`Doc` per HTML document (the main page or one frame). It precomputes the few
document-wide maps (ids, names, ``<label for>``, CSS classes hidden by ``<style>`` rules) so
that classifying a page stays a matter of milliseconds.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterator

import lxml.etree
import lxml.html
from lxml.html import HtmlElement

CONTROL_TAGS = frozenset({"input", "select", "textarea"})
# Input types that are not fields a person fills: they never become FieldInfo.
NON_FIELD_TYPES = frozenset({"hidden", "submit", "button", "reset", "image"})
TEXT_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "option", "optgroup"})

_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0+)?\s*(?:;|$|!)"
    r"|(?:left|top|right|margin-left|text-indent)\s*:\s*-\d{3,}(?:\.\d+)?(?:px|em|rem)?"
    r"|clip\s*:\s*rect\(\s*0|clip-path\s*:\s*inset\(\s*50%"
    r"|(?<![-\w])(?:width|height)\s*:\s*0(?:px)?\s*(?:;|$|!)"
    r"|font-size\s*:\s*0(?:px)?\s*(?:;|$|!)",
    re.I,
)
# Utility classes that every CSS framework defines as "not shown".
_TINY_BOX = re.compile(
    r"(?:^|[;\s{])(?:width|height)\s*:\s*[01](?:px)?\s*(?:!important)?\s*(?:;|$)", re.I
)
_OVERFLOW_HIDDEN = re.compile(r"overflow\s*:\s*hidden", re.I)


def css_hides(declarations: str) -> bool:
    """Whether CSS declarations make an element invisible (including the 1px clipped box)."""
    if _HIDDEN_STYLE.search(declarations):
        return True
    return bool(_TINY_BOX.search(declarations) and _OVERFLOW_HIDDEN.search(declarations))


_HIDDEN_CLASSES = frozenset(
    {
        "hidden",
        "d-none",
        "is-hidden",
        "hide",
        "invisible",
        "sr-only",
        "visually-hidden",
        "screen-reader-text",
        "u-hidden",
        "display-none",
    }
)
_BRACE = re.compile(r"([{}])")
_SIMPLE_SELECTOR_TAIL = re.compile(r"([.#])([\w-]+)\s*$")
_CSS_IDENT = re.compile(r"^-?[A-Za-z_][\w-]*$")


def parse_html(html: str) -> HtmlElement:
    """Parse a document leniently; an empty or broken document becomes an empty page."""
    if not html.strip():
        return lxml.html.document_fromstring("<html><body></body></html>")
    try:
        return lxml.html.document_fromstring(html)
    except ValueError:
        # A str with an XML encoding declaration: lxml wants bytes for those.
        return lxml.html.document_fromstring(html.encode("utf-8", "replace"))
    except lxml.etree.ParserError:
        return lxml.html.document_fromstring("<html><body></body></html>")


def tag_of(el: HtmlElement) -> str:
    """The lower-case tag name, or "" for comments and processing instructions."""
    tag = el.tag
    # lxml's HTML parser already lower-cases tag names.
    return tag if isinstance(tag, str) else ""


def input_type(el: HtmlElement) -> str:
    """The effective type of a control ("text" for an input without a type)."""
    tag = tag_of(el)
    if tag == "input":
        return (el.get("type") or "text").strip().lower() or "text"
    return tag


_CHAR_NFKC: dict[str, str] = {}
# Half-width katakana and combining marks compose with their neighbours: those texts take the
# slow, exact path.
_COMPOSING = re.compile(r"[\uff61-\uff9f\u0300-\u036f\u3099-\u309c]")


def nfkc(text: str) -> str:
    """NFKC of ``text``, fast for long pages.

    ``unicodedata.normalize`` costs milliseconds on a long Japanese page; mapping each distinct
    character once gives the same result whenever no character composes with its neighbour.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    if len(text) < 200 or _COMPOSING.search(text):
        return unicodedata.normalize("NFKC", text)
    table: dict[str, str] = {}
    for ch in set(text):
        mapped = _CHAR_NFKC.get(ch)
        if mapped is None:
            mapped = _CHAR_NFKC[ch] = unicodedata.normalize("NFKC", ch)
        if mapped != ch:
            table[ch] = mapped
    if not table:
        return text
    pattern = "[" + "".join(re.escape(ch) for ch in table) + "]"
    return re.sub(pattern, lambda m: table[m.group()], text)


def norm(text: str) -> str:
    """NFKC, lower case, whitespace collapsed: the form every pattern is matched against."""
    return " ".join(nfkc(text).lower().split())


def clean(text: str) -> str:
    """Whitespace collapsed, nothing else changed: the form texts are reported in."""
    return " ".join(text.split())


def css_string(value: str) -> str:
    """A CSS double-quoted string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\a ") + '"'


class Doc:
    """One parsed document with the lookups every decision needs."""

    def __init__(self, html: str, url: str = "") -> None:
        self.html = html
        self.url = url
        self.root: HtmlElement = parse_html(html)
        # The driver annotates every interesting element; when it did, its visibility verdict
        # (computed from the rendered layout) beats anything we can infer from markup.
        self.annotated = "data-mk=" in html
        self._hidden_cache: dict[HtmlElement, bool] = {}
        self._self_cache: dict[HtmlElement, bool] = {}
        self.id_counts: Counter[str] = Counter()
        self.name_counts: Counter[str] = Counter()
        self.labels_for: dict[str, list[HtmlElement]] = {}
        self.by_id: dict[str, HtmlElement] = {}
        # XPath runs in C: far cheaper than walking every element in Python.
        for name in self.root.xpath(
            "//input/@name|//select/@name|//textarea/@name|//button/@name|//form/@name|//a/@name"
        ):
            self.name_counts[str(name)] += 1
        for label in self.root.xpath("//label[@for]"):
            self.labels_for.setdefault(label.get("for"), []).append(label)
        for el in self.root.xpath("//*[@id]"):
            ident = el.get("id")
            if ident:
                self.id_counts[ident] += 1
                self.by_id.setdefault(ident, el)
        self._text_cache: dict[tuple[HtmlElement, bool, bool], str] = {}
        self.hidden_classes, self.hidden_ids = _hidden_by_stylesheet(self.root)

    # -- visibility ---------------------------------------------------------------------------

    def hide_also(self, classes: set[str], ids: set[str]) -> None:
        """Count elements of these classes and ids as hidden too (the rules of stylesheets the
        page links to, read by the caller)."""
        self.hidden_classes = self.hidden_classes | classes
        self.hidden_ids = self.hidden_ids | ids
        self._hidden_cache.clear()
        self._self_cache.clear()
        self._text_cache.clear()

    def is_hidden(self, el: HtmlElement) -> bool:
        """Whether ``el`` is not rendered visibly (itself or through an ancestor).

        The driver's mark (``data-mk`` with or without ``data-mk-hidden``) is the browser's own
        verdict and final; elements it does not mark (divs, paragraphs …) and static files are
        judged from the markup: inline styles, ``hidden``, ``aria-hidden``, hiding classes.
        """
        cached = self._hidden_cache.get(el)
        if cached is not None:
            return cached
        if self.annotated and el.get("data-mk") is not None:
            hidden = el.get("data-mk-hidden") == "1" or (
                el.tag == "input" and input_type(el) == "hidden"
            )
        else:
            hidden = self._hidden_self(el)
            if not hidden:
                parent = el.getparent()
                hidden = parent is not None and self.is_hidden(parent)
        self._hidden_cache[el] = hidden
        return hidden

    def hidden_within(self, el: HtmlElement, container: HtmlElement) -> bool:
        """Whether ``el`` is hidden by itself or by an ancestor inside ``container``.

        A form that scripts open (a login modal, a collapsed search box) is hidden as a whole;
        what its fields are is read as if it were shown, and only what it hides inside itself
        (a honeypot) counts as hidden. Judged from the markup, since the browser's verdict
        covers the container too.
        """
        node: HtmlElement | None = el
        while node is not None and node is not container:
            if self._hidden_self(node):
                return True
            node = node.getparent()
        return False

    def _hidden_self(self, el: HtmlElement) -> bool:
        cached = self._self_cache.get(el)
        if cached is None:
            cached = self._self_cache[el] = self._compute_hidden_self(el)
        return cached

    def _compute_hidden_self(self, el: HtmlElement) -> bool:
        if not isinstance(el.tag, str):
            return False
        tag = tag_of(el)
        if tag == "input" and input_type(el) == "hidden":
            return True
        if el.get("hidden") is not None or el.get("aria-hidden") == "true":
            return True
        if tag in ("template", "noscript", "script", "style"):
            return True
        style = el.get("style")
        if style and css_hides(style):
            return True
        classes = el.get("class")
        if classes:
            for cls in classes.split():
                if cls in _HIDDEN_CLASSES or cls in self.hidden_classes:
                    return True
        ident = el.get("id")
        return bool(ident and ident in self.hidden_ids)

    # -- selectors ----------------------------------------------------------------------------

    def selector(self, el: HtmlElement) -> str:
        """A CSS selector that finds ``el`` in a browser: the driver's mark, else id/name/path."""
        mark = el.get("data-mk")
        if mark:
            return f"[data-mk={css_string(mark)}]"
        tag = tag_of(el) or "*"
        ident = el.get("id")
        if ident and self.id_counts[ident] == 1:
            if _CSS_IDENT.match(ident):
                return f"#{ident}"
            return f"{tag}[id={css_string(ident)}]"
        name = el.get("name")
        if name and self.name_counts[name] == 1:
            return f"{tag}[name={css_string(name)}]"
        if name and tag == "input" and input_type(el) in ("radio", "checkbox"):
            value = el.get("value")
            if value is not None:
                same = [
                    x
                    for x in self.root.iter("input")
                    if x.get("name") == name and x.get("value") == value
                ]
                if len(same) == 1:
                    return f"input[name={css_string(name)}][value={css_string(value)}]"
        return self._path(el)

    def _path(self, el: HtmlElement) -> str:
        parts: list[str] = []
        node: HtmlElement | None = el
        while node is not None and isinstance(node.tag, str):
            tag = tag_of(node)
            parent = node.getparent()
            ident = node.get("id")
            if ident and self.id_counts[ident] == 1 and _CSS_IDENT.match(ident):
                parts.append(f"#{ident}")
                break
            if parent is None:
                parts.append(tag)
                break
            same = [c for c in parent if isinstance(c.tag, str) and tag_of(c) == tag]
            if len(same) == 1:
                parts.append(tag)
            else:
                parts.append(f"{tag}:nth-of-type({same.index(node) + 1})")
            node = parent
        return " > ".join(reversed(parts))

    # -- text ---------------------------------------------------------------------------------

    def text(
        self, el: HtmlElement, *, visible_only: bool = True, skip_controls: bool = True
    ) -> str:
        """The text a person reads in ``el``: no scripts, no option lists, no hidden parts."""
        key = (el, visible_only, skip_controls)
        cached = self._text_cache.get(key)
        if cached is None:
            out: list[str] = []
            self._collect_text(el, out, visible_only, skip_controls)
            cached = self._text_cache[key] = clean("".join(out))
        return cached

    def lines(
        self, el: HtmlElement, *, visible_only: bool = True, skip_controls: bool = True
    ) -> str:
        """:meth:`text` one block per line, as a browser's ``innerText`` breaks it (blocks and
        ``<br>`` end a line; whitespace inside a line collapses)."""
        out: list[str] = []
        self._collect_text(el, out, visible_only, skip_controls, "\x00")
        return "\n".join(
            line for line in (clean(part) for part in "".join(out).split("\x00")) if line
        )

    def _collect_text(
        self,
        el: HtmlElement,
        out: list[str],
        visible_only: bool,
        skip_controls: bool,
        mark: str = " ",
    ) -> None:
        tag = el.tag
        if not isinstance(tag, str):
            return  # comments: their tails are added by the parent
        if tag in TEXT_SKIP_TAGS or (skip_controls and tag in ("select", "textarea")):
            return
        if visible_only and self._hidden_self_or_marked(el):
            return
        block = tag in _BLOCK_TAGS
        if tag == "img":
            alt = el.get("alt")
            if alt:
                out.append(" " + alt + " ")
        elif block or tag == "br":
            out.append(mark)
        if el.text:
            out.append(el.text)
        for child in el:
            self._collect_text(child, out, visible_only, skip_controls, mark)
            if child.tail:
                out.append(child.tail)
        if block:
            out.append(mark)

    def _hidden_self_or_marked(self, el: HtmlElement) -> bool:
        if self.annotated and el.get("data-mk") is not None:
            return bool(el.get("data-mk-hidden") == "1")
        return self._hidden_self(el)

    def control_value_text(self, el: HtmlElement) -> str:
        """The words on a button-like element: its text, value, aria-label, title or alt."""
        tag = tag_of(el)
        if tag == "input":
            return clean(el.get("value") or el.get("aria-label") or el.get("alt") or "")
        text = self.text(el, visible_only=False)
        return text or clean(el.get("aria-label") or el.get("title") or el.get("value") or "")

    def preceding_chunks(
        self, el: HtmlElement, boundary: HtmlElement | None, limit: int = 80
    ) -> list[str]:
        """Text chunks before ``el`` in document order, nearest first.

        Stops at the previous form control (its text belongs to that control), at
        ``boundary`` (the form) and after ``limit`` characters: what a person reads just before
        a box is what the box is for.
        """
        chunks: list[str] = []
        total = 0
        node = el
        while node is not None and node is not boundary:
            parent = node.getparent()
            if parent is None:
                break
            for sib in node.itersiblings(preceding=True):
                if sib.tail and sib.tail.strip():
                    chunks.append(clean(sib.tail))
                    total += len(chunks[-1])
                if not isinstance(sib.tag, str):
                    continue
                if self.contains_control(sib):
                    return chunks
                if total >= limit:
                    return chunks
                if self._hidden_self_or_marked(sib):
                    continue
                text = self.text(sib)
                if text:
                    chunks.append(text)
                    total += len(text)
                if total >= limit:
                    return chunks
            if parent.text and parent.text.strip() and parent is not boundary:
                chunks.append(clean(parent.text))
                total += len(chunks[-1])
            if total >= limit or parent is boundary:
                return chunks
            node = parent
        return chunks

    def following_text(self, el: HtmlElement, limit: int = 60) -> str:
        """The text right after ``el`` up to the next control, within its parent's parent.

        Field notes such as 「※ハイフンなし」 are usually written after the box.
        """
        out: list[str] = []
        total = 0
        node = el
        for _ in range(2):
            if node.tail and node.tail.strip():
                out.append(clean(node.tail))
                total += len(out[-1])
            for sib in node.itersiblings():
                if not isinstance(sib.tag, str):
                    continue
                if self.contains_control(sib) or total >= limit:
                    return " ".join(out)
                text = self.text(sib)
                if text:
                    out.append(text)
                    total += len(text)
                if sib.tail and sib.tail.strip():
                    out.append(clean(sib.tail))
                    total += len(out[-1])
            parent = node.getparent()
            if parent is None or tag_of(parent) in ("form", "body", "tr", "dl", "table"):
                break
            node = parent
        return " ".join(out)

    def contains_control(self, el: HtmlElement) -> bool:
        """Whether ``el`` is or holds a fillable control (hidden inputs do not count)."""
        for sub in el.iter("input", "select", "textarea"):
            if tag_of(sub) != "input" or input_type(sub) not in NON_FIELD_TYPES:
                return True
        return False

    def iter_ancestors(self, el: HtmlElement) -> Iterator[HtmlElement]:
        """The ancestors of ``el``, nearest first."""
        parent = el.getparent()
        while parent is not None:
            yield parent
            parent = parent.getparent()


_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "li",
        "tr",
        "td",
        "th",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "table",
        "ul",
        "ol",
        "dl",
        "form",
        "label",
        "fieldset",
        "legend",
        "header",
        "footer",
        "nav",
        "main",
        "button",
    }
)


def style_rules(css: str) -> list[tuple[str, str]]:
    """The ``selectors { declarations }`` rules of a stylesheet whose parts hold no brace.

    One split at the braces, so the cost is linear in the text: the pattern
    ``([^{}]+)\\{([^{}]*)\\}`` it replaces retried every start position of a brace-less run
    (seconds for a 40 KB style, hours for megabytes). Nested blocks (``@media``) give their
    inner rules, as the pattern did.
    """
    parts = _BRACE.split(css)
    # parts alternate text, brace, text, brace …: a rule is text "{" text "}".
    rules: list[tuple[str, str]] = []
    for i in range(0, len(parts) - 3, 2):
        if parts[i] and parts[i + 1] == "{" and parts[i + 3] == "}":
            rules.append((parts[i], parts[i + 2]))
    return rules


def _hidden_by_stylesheet(root: HtmlElement) -> tuple[frozenset[str], frozenset[str]]:
    """Classes and ids that inline ``<style>`` rules hide (honeypot wrappers use them)."""
    classes: set[str] = set()
    ids: set[str] = set()
    for style in root.iter("style"):
        stylesheet_hiding(style.text or "", classes, ids)
    return frozenset(classes), frozenset(ids)


def stylesheet_hiding(css: str, classes: set[str], ids: set[str]) -> bool:
    """Add to ``classes`` and ``ids`` what the rules of ``css`` hide (by the last class or id
    of each selector); True when that covers every hiding rule, False when some rule hides
    elements the markup alone cannot name (``li``, ``.tab:not(.active)``, ``@import``)."""
    understood = "@import" not in css
    for selectors, body in style_rules(css):
        if not css_hides(body):
            continue
        for sel in selectors.split(","):
            m = _SIMPLE_SELECTOR_TAIL.search(sel.strip())
            if m:
                (classes if m.group(1) == "." else ids).add(m.group(2))
            else:
                understood = False
    return understood
