"""Form classification (contact, comment, search, login, …) and the choice of the inquiry form."""

from __future__ import annotations

import re
from collections import Counter

import lxml.html
from lxml.html import HtmlElement

from formfill._dom import Doc, input_type, norm, tag_of
from formfill._fields import extract_fields
from formfill._notices import detect_captcha
from formfill._roles import ident_words
from formfill._types import FieldInfo, FormChoice, FormInfo, FormKind, PageSnapshot

_BACK = re.compile(
    r"戻る|もどる|修正|訂正|back|reset|リセット|クリア|clear|キャンセル|cancel|取り?消|閉じる|close|検索|search|ログイン|login"
)
_SUBMITISH = re.compile(
    r"送信|確認|submit|send|申し?込|問い?合わ?せ|次へ|進む|confirm|登録|確定|request|contact|inquire|go"
)
_CONTACT_WORDS = re.compile(
    r"お?問い?合わ?せ|contact|inquiry|enquiry|toiawase|otoiawase|wpcf7|mw[ _]?wp[ _]?form|snow[ -]?monkey|smf[ -]|mailformpro|mfp|formrun|hs[ -]?form|hbspt|ご相談|資料請求|見積"
)
_COMMENT_WORDS = re.compile(
    r"commentform|comment[ -]form|wp[ -]comments[ -]post|コメントを(?:送信|残す|書く|投稿)|leave a (?:reply|comment)|post comment|返信をキャンセル|cancel reply|comment[ -]respond"
)
_SEARCH_IDENT = re.compile(
    r"^(?:s|q|query|keyword|keywords|kw|search|search ?text|search ?query|word|words|k)$"
)
_NEWSLETTER = re.compile(
    r"メルマガ|メールマガジン|ニュースレター|newsletter|subscribe|購読|配信(?:登録|希望)|mailing list"
)
_ORDER = re.compile(r"カート|cart|注文|購入|quantity|数量|add to cart|checkout|product ?id|\bqty\b")
_RESET = re.compile(
    r"パスワード(?:を)?(?:お?忘れ|再設定|リセット)|forgot|reset (?:your )?password|password reset|lost ?password"
)
_REGISTER = re.compile(r"会員登録|新規登録|register|sign ?up|create (?:an )?account|アカウント作成")


def classify_forms(html: str, url: str) -> list[FormInfo]:
    """Classify every ``<form>`` of a document; add a pseudo-form (index −1) for a JS form.

    ``index`` is the form's position among the page's ``<form>`` elements. A cluster of inputs
    outside any form (a HubSpot-style form rendered into divs) is reported as index −1, and only
    when no real form is a contact form.
    """
    return classify_document(Doc(html, url), None)


def classify_document(doc: Doc, frame_index: int | None) -> list[FormInfo]:
    """:func:`classify_forms` on an already parsed document (shared with page states)."""
    page_captcha = detect_captcha(doc.html)
    # A site-wide CAPTCHA script (reCAPTCHA v3, Turnstile) guards every form of the page.
    page_wide = page_captcha in ("recaptcha", "hcaptcha", "turnstile")
    forms: list[FormInfo] = []
    for index, form in enumerate(doc.root.iter("form")):
        forms.append(_form_info(doc, form, index, frame_index, page_wide))
    if not any(f.kind == "contact" for f in forms):
        for container in _pseudo_containers(doc):
            info = _form_info(doc, container, -1, frame_index, page_wide, pseudo=True)
            if info.kind == "contact":
                forms.append(info)
                break
    return forms


def _form_info(
    doc: Doc,
    form: HtmlElement,
    index: int,
    frame_index: int | None,
    page_wide_captcha: bool,
    *,
    pseudo: bool = False,
) -> FormInfo:
    fields = tuple(extract_fields(doc, form, pseudo=pseudo))
    form_html = lxml.html.tostring(form, encoding="unicode")
    has_captcha = page_wide_captcha or detect_captcha(form_html) is not None
    has_captcha = has_captcha or any(f.role == "captcha" and f.visible for f in fields)
    submit = _submit_button(doc, form, pseudo)
    kind, score = _kind(doc, form, fields, submit)
    return FormInfo(
        index=index,
        kind=kind,
        score=round(score, 2),
        selector=doc.selector(form),
        fields=fields,
        submit_selector=doc.selector(submit) if submit is not None else None,
        has_captcha=has_captcha,
        frame_index=frame_index,
    )


def submit_candidates(
    doc: Doc, container: HtmlElement, pseudo: bool, *, links: bool = True
) -> list[HtmlElement]:
    """Buttons that could submit ``container``, in document order.

    Real buttons and ``role="button"`` elements; for a pseudo-form (``pseudo``) also links
    that say 送信/submit (``links``), which JS forms use as buttons.
    """
    found: list[HtmlElement] = []
    for el in container.iter("button", "input", "a", "div", "span"):
        tag = el.tag
        if tag == "input":
            if input_type(el) in ("submit", "image", "button"):
                found.append(el)
        elif (
            tag == "button"
            or el.get("role") == "button"
            or (
                pseudo
                and links
                and tag == "a"
                and _SUBMITISH.search(el.text_content().lower())
                and _SUBMITISH.search(norm(doc.control_value_text(el)))
            )
        ):
            found.append(el)
    form_id = container.get("id") if tag_of(container) == "form" else None
    if form_id:
        for el in doc.root.xpath("//button[@form=$f]|//input[@form=$f]", f=form_id):
            if tag_of(el) == "button" or input_type(el) in ("submit", "image"):
                found.append(el)
    return found


def _submit_button(doc: Doc, container: HtmlElement, pseudo: bool) -> HtmlElement | None:
    best: HtmlElement | None = None
    best_score = -1.0
    for el in submit_candidates(doc, container, pseudo):
        text = norm(doc.control_value_text(el))
        if _BACK.search(text) and not re.search(r"送信|submit|send", text):
            continue
        typ = (el.get("type") or ("submit" if tag_of(el) == "button" else "")).lower()
        if tag_of(el) == "button" and typ == "reset":
            continue
        score = 0.0
        if typ in ("submit", "image"):
            score += 2
        if _SUBMITISH.search(text):
            score += 3
        if doc.is_hidden(el):
            score -= 4
        if score > best_score:
            best, best_score = el, score
    if best is not None and best_score <= -2:
        return None
    return best


def _kind(
    doc: Doc, form: HtmlElement, fields: tuple[FieldInfo, ...], submit: HtmlElement | None
) -> tuple[FormKind, float]:
    visible = [f for f in fields if f.visible and f.role not in ("honeypot", "captcha")]
    roles: Counter[str] = Counter(f.role for f in visible)
    attrs = ident_words(
        " ".join(form.get(a) or "" for a in ("id", "class", "name", "action", "role", "aria-label"))
    )
    action = (form.get("action") or "").lower()
    text = norm(doc.text(form))[:600]
    button = norm(doc.control_value_text(submit)) if submit is not None else ""
    context = f"{attrs} {action} {text} {button}"
    passwords = [f for f in visible if f.type == "password"]
    fillable = [f for f in visible if f.type not in ("checkbox", "radio")]

    if _COMMENT_WORDS.search(context) or (
        "comment" in {f.name for f in visible} and "author" in {f.name for f in visible}
    ):
        return "comment", 0.0
    search_idents = [f for f in fillable if _SEARCH_IDENT.match(ident_words(f.name))]
    if (
        form.get("role") == "search"
        or any(f.type == "search" for f in fillable)
        or (len(fillable) <= 2 and (search_idents or re.search(r"検索|search", button or attrs)))
    ) and "message" not in roles:
        return "search", 0.0
    if passwords:
        if len(passwords) >= 2 or _REGISTER.search(context):
            return "registration", 0.0
        return "login", 0.0
    if _RESET.search(context) and len(fillable) <= 2:
        return "password_reset", 0.0

    score = 0.0
    score += 3.0 if roles["message"] else 0.0
    score += 2.0 if roles["email"] else 0.0
    name_roles = ("name", "last_name", "first_name")
    score += 1.5 if any(roles[r] for r in name_roles) else 0.0
    score += 1.0 if roles["company"] else 0.0
    score += 1.0 if roles["phone"] or roles["phone_part"] else 0.0
    score += 1.0 if roles["inquiry_type"] else 0.0
    score += 0.5 if roles["subject"] else 0.0
    score += 0.5 if roles["consent"] else 0.0
    score += 2.0 if _CONTACT_WORDS.search(context) else 0.0

    if _NEWSLETTER.search(context) and not roles["message"] and len(fillable) <= 3:
        return "newsletter", score
    if _ORDER.search(context) and not roles["message"]:
        return "order", score
    if (roles["message"] and score >= 4.0) or score >= 5.5:
        return "contact", score
    if len(fillable) == 1 and roles["email"] and not roles["message"]:
        return "newsletter", score
    return "other", score


def _pseudo_containers(doc: Doc) -> list[HtmlElement]:
    """Containers of inputs outside any <form> that hold a textarea or e-mail box and a button."""
    containers: list[HtmlElement] = []
    for el in doc.root.iter("textarea", "input"):
        if tag_of(el) == "input" and input_type(el) != "email":
            continue
        if any(tag_of(a) == "form" for a in doc.iter_ancestors(el)) or doc.is_hidden(el):
            continue
        for anc in doc.iter_ancestors(el):
            if tag_of(anc) in ("body", "html"):
                break
            if submit_candidates(doc, anc, True):
                if anc not in containers:
                    containers.append(anc)
                break
    return containers


def find_inquiry_form(snapshot: PageSnapshot) -> FormChoice | None:
    """Pick the inquiry form of the page or of one of its frames (form services), or None.

    The main document wins a tie; among frames, the best-scoring contact form wins.
    """
    best: FormChoice | None = None
    documents: list[tuple[int | None, str, str]] = [(None, snapshot.html, snapshot.url)]
    documents.extend((fr.index, fr.html, fr.url) for fr in snapshot.frames)
    for frame_index, html, url in documents:
        for form in classify_document(Doc(html, url), frame_index):
            if form.kind != "contact":
                continue
            if best is None or form.score > best.form.score:
                best = FormChoice(frame_index=frame_index, form=form)
    return best
