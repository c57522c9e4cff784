"""Form classification (contact, comment, search, login, …) and the choice of the inquiry form."""

from __future__ import annotations

import re
from collections import Counter

import lxml.html
from lxml.html import HtmlElement

from formfill._dom import Doc, input_type, norm, tag_of
from formfill._fields import extract_fields, has_hidden_steps
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
# The words of each kind of form in the languages of the web (ja first). They are read where the
# page author names the form: its id, class, name and action, its button, its fields' names
# and placeholders, not its free text (a login form says 「新規登録はこちら」 too).
_SEARCH_WORDS = re.compile(
    r"検索|さがす|search|suche|recherch|busca|búsqueda|pesquis|cerca|ricerca|zoek|szuka|wyszuk"
    r"|hledat|vyhled|поиск|искать|найти|пошук|搜索|搜尋|검색|\bsök|\bsøg|\bhaku|keres|\bara\b"
    r"|\bcari\b|\bfind\b|\blookup\b|such(?:e|en|string|begriff|wort)\b|keyword|\bquery\b"
)
# Forms of lists only (no box to type in) that sort or filter what a page shows.
_REFINE_WORDS = re.compile(
    r"並び(?:替え|順)|絞り?込|表示件数|sort|filter|refine|order ?by|\blimit\b|per ?page|sortier"
    r"|\btrier|ordenar|filtr|фильтр|сортир"
)
_LOGIN_WORDS = re.compile(
    r"ログイン|サインイン|login|log ?in|logon|log ?on|sign ?in|signin|auth|anmeld|einlogg"
    r"|connexion|connecter|identifi|entrar|acceder|accedi|iniciar|войти|вход|авториз|登录|登入"
    r"|로그인|zaloguj|logowan|přihl|prihl|inloggen|giriş|kirjaudu|belép|masuk"
)
_REGISTER_WORDS = re.compile(
    r"会員登録|新規登録|新規会員|アカウント作成|register|registr|sign ?up|signup|join|create"
    r"|new ?(?:user|account|member)|inscri|crear|cadastr|регистр|注册|註冊|가입|załóż|aanmelden"
)
# A phone and a mobile, a URL and a reference URL happen; three more of these do not.
# Forms that put something on the site (a listing, a suggestion, a question to a board) say so
# in their id or name: 「NewRentalForm」, 「add-task-form」, 「SuggestionIndexForm」.
_CREATES = re.compile(r"(?:^|\s)(?:add|new|suggest\w*|create|upload|submit ?(?:a|your|new))\b")
_ONCE_ROLES = ("name", "email", "company", "url", "address", "message", "subject")
_ACCOUNT_WORDS = re.compile(
    r"会員登録|新規登録|アカウント作成|regist|create (?:an )?account|new ?(?:user|account|member)"
    r"|inscri|cadastr|регистр|注册|註冊|회원가입"
)
_RESET_WORDS = re.compile(
    r"パスワード(?:を)?(?:お?忘れ|再設定|再発行|リセット)|forgot|lost ?pass|reset|recover|remind"
    r"|retriev|vergessen|oubli|perdu|olvid|recuper|esquec|dimentic|восстанов|забыл|напомн"
    r"|找回|忘记|zapomn|vergeten|unohtu|reissue|elfelejt|priminim"
)
_PASSWORD_WORDS = re.compile(
    r"パスワード|password|passwort|mot de passe|contraseña|senha|пароль|密码|密碼|비밀번호|hasło"
    r"|heslo|wachtwoord|salasana|lösenord|adgangskode|jelsz|şifre|slaptažod|\bpass\b|\bpwd?\b"
)
_NEWSLETTER = re.compile(
    r"メルマガ|メールマガジン|ニュースレター|newsletter|subscri|購読|配信(?:登録|希望)|mailing ?list"
    r"|e-?mail (?:updates|alerts|sign ?up)|email ?sign ?up|opt ?in|abonn|suscri|iscriv|рассылк"
    r"|подпис|订阅|訂閱|구독|nieuwsbrief|zapisz|odebír|news ?letter"
)
_ORDER = re.compile(
    r"カート|かご|注文|購入|cart|basket|checkout|add ?to|\bbuy\b|purchase|\border\b|quantity|\bqty\b"
    r"|coupon|voucher|promo|paypal|warenkorb|kaufen|panier|achat|acheter|carrito|comprar|carrello"
    r"|acquist|корзин|купить|заказ|购物|购买|koszyk|košík|winkelwagen|sepet|product ?id|\bsku\b"
)


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
        submit_text=doc.control_value_text(submit) if submit is not None else "",
        submit_posts=submit is not None and _posts_natively(submit, pseudo),
    )


def _posts_natively(button: HtmlElement, pseudo: bool) -> bool:
    """Whether pressing ``button`` submits its form by itself (no script needed)."""
    tag = tag_of(button)
    kind = (button.get("type") or "").lower()
    if tag == "input":
        return kind in ("submit", "image")
    return tag == "button" and kind in ("", "submit") and not pseudo


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
    # A form that scripts open (a login modal) is hidden as a whole: read it as if shown. So is
    # a JS wizard's later steps, behind a 次へ that posts nothing.
    form_hidden = doc.is_hidden(form) or has_hidden_steps(doc, form)
    # A box without a name sends nothing (a search box of the page an ASP.NET form wraps).
    shown = [
        f
        for f in fields
        if (f.visible or form_hidden) and f.role not in ("honeypot", "captcha") and f.name
    ]
    roles: Counter[str] = Counter(f.role for f in shown)
    attrs = ident_words(
        " ".join(form.get(a) or "" for a in ("id", "class", "name", "role", "aria-label"))
    )
    raw_action = form.get("action") or ""
    action = raw_action.lower()
    # The action's path and query only: a host name (auth.example.com) names no form.
    action_words = ident_words(re.sub(r"^[a-z][a-z0-9+.-]*://[^/]*", "", raw_action))
    text = norm(doc.text(form, visible_only=not form_hidden))[:600]
    button = norm(doc.control_value_text(submit)) if submit is not None else ""
    # Without the query: 「?destination=node/1#comment-form」 names where to go back to.
    context = f"{attrs} {action.split('?')[0]} {text} {button}"
    # Where the author names the form: attributes, action, button (not the free text).
    named = f"{attrs} {action_words} {button}"
    field_words = " ".join(f"{ident_words(f.name)} {norm(f.label)}" for f in shown)
    passwords = [f for f in shown if f.type == "password"]
    fillable = [f for f in shown if f.type not in ("checkbox", "radio")]
    texts = [f for f in fillable if f.tag != "select"]
    message = roles["message"] > 0
    # A search box's placeholder may say 「content」: only a multi-line box is surely a message.
    long_message = any(f.role == "message" and f.tag == "textarea" for f in shown)
    person = any(
        roles[r]
        for r in ("email", "name", "last_name", "first_name", "phone", "phone_part", "company")
    )
    contact_named = bool(_CONTACT_WORDS.search(f"{named} {context}"))

    score = 0.0
    score += 3.0 if message else 0.0
    score += 2.0 if roles["email"] else 0.0
    score += 1.5 if any(roles[r] for r in ("name", "last_name", "first_name")) else 0.0
    score += 1.0 if roles["company"] else 0.0
    score += 1.0 if roles["phone"] or roles["phone_part"] else 0.0
    score += 1.0 if roles["inquiry_type"] else 0.0
    score += 0.5 if roles["subject"] else 0.0
    score += 0.5 if roles["consent"] else 0.0
    score += 2.0 if contact_named else 0.0

    if passwords:
        return _account_kind(passwords, roles, fillable, named, button), 0.0
    if _COMMENT_WORDS.search(context) or (
        "comment" in {f.name for f in shown} and "author" in {f.name for f in shown}
    ):
        return "comment", 0.0
    search_idents = [f for f in texts if _SEARCH_IDENT.match(ident_words(f.name))]
    # Named a search (or a filter) by its own id, class or action: whatever it asks, even an
    # author's name; otherwise a few boxes with search words and nobody's details.
    if (
        not long_message
        and not roles["email"]
        and (
            form.get("role") == "search"
            or any(f.type == "search" for f in fillable)
            or _SEARCH_WORDS.search(f"{attrs} {action_words}")
            or (not person and _REFINE_WORDS.search(attrs))
            or (
                not person
                and (
                    (len(texts) <= 3 and _SEARCH_WORDS.search(f"{named} {field_words}"))
                    or (len(texts) <= 2 and search_idents)
                    or (
                        not texts
                        and fillable
                        and _REFINE_WORDS.search(f"{named} {field_words} {text}")
                    )
                )
            )
        )
    ):
        return "search", 0.0
    if not message and len(texts) <= 2:
        # Named a reset (id="forgot", /remind) or saying 「パスワードを忘れ」 in its text.
        reset_said = _RESET_WORDS.search(text) and _PASSWORD_WORDS.search(f"{named} {text}")
        if reset_said or _RESET_WORDS.search(named) or _PASSWORD_WORDS.search(action_words):
            return "password_reset", 0.0
    # A form whose id, class or name says cart or order is one, whatever else it asks (a note,
    # a friend's address); an order-ish action (a shop's cart.php serving every form) or button
    # counts when no one writes a message.
    raw_attrs = " ".join(form.get(a) or "" for a in ("id", "class", "name")).lower()
    if (_ORDER.search(attrs) and not _CONTACT_WORDS.search(raw_attrs)) or (
        not (message and person) and not contact_named and _ORDER.search(f"{named} {field_words}")
    ):
        return "order", score
    if (
        not message
        and _NEWSLETTER.search(f"{named} {text}")
        and (roles["email"] or len(texts) == 1)
    ):
        return "newsletter", score
    # 「Sign up」 for one e-mail box is a mailing list; an account asks for more, or says so.
    if (
        _REGISTER_WORDS.search(named)
        and (len(texts) >= 2 or _ACCOUNT_WORDS.search(named))
        and not (message and contact_named)
    ):
        return "registration", score
    # Counted on boxes to type in: a checkbox list may give each of its boxes its own name.
    unknown = sum(1 for f in texts if f.role == "other")
    # One person's inquiry asks each thing once: two names and five URLs make a listing or an
    # application.
    repeated = sum(roles[r] - 1 for r in _ONCE_ROLES if roles[r] > 1)
    creates = _CREATES.search(attrs) and not _CONTACT_WORDS.search(raw_attrs)
    if (
        message
        and person
        and unknown <= _unknown_allowed(len(texts))
        and repeated < 3
        and not creates
    ):
        # Many boxes of no inquiry role: a listing, an application, a profile, not an inquiry.
        return "contact", score
    if long_message and not person and len(texts) <= 3:
        # A post, a reply, a feedback box: no one to answer, so a comment form, never filled
        # (see docs/rules.md#form-filling, F2).
        return "comment", score
    if len(texts) <= 2 and _LOGIN_WORDS.search(named):
        return "login", score
    if len(texts) == 1 and roles["email"]:
        return "newsletter", score
    return "other", score


# How many boxes of no role of ours an inquiry may ask: a few (「How did you hear about us?」),
# a quarter of a long form. The words for fields now name a country, a region, a town in many
# languages, so a registration or a booking that asks for a message and a whole address no
# longer hides behind its unknown boxes: the margin is tighter than it was (three, a third).
_UNKNOWN_FEW = 2
_UNKNOWN_SHARE = 4


def _unknown_allowed(texts: int) -> int:
    return max(_UNKNOWN_FEW, texts // _UNKNOWN_SHARE)


def _account_kind(
    passwords: list[FieldInfo],
    roles: Counter[str],
    fillable: list[FieldInfo],
    named: str,
    button: str,
) -> FormKind:
    """A form with a password box: a login, or a registration (which asks for more)."""
    if len(passwords) >= 2:
        return "registration"
    # The form's own id and action first: a login form may carry a 「Create an account」 button.
    for words in (named.removesuffix(button), button):
        register = bool(_REGISTER_WORDS.search(words))
        login = bool(_LOGIN_WORDS.search(words))
        if register != login:
            return "registration" if register else "login"
    others = [f for f in fillable if f.type != "password"]
    return "registration" if len(others) >= 3 else "login"


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
            # A form nobody can see (a closed modal) is classified, but it is not filled.
            if form.kind != "contact" or not any(f.visible for f in form.fields):
                continue
            if best is None or form.score > best.form.score:
                best = FormChoice(frame_index=frame_index, form=form)
    return best
