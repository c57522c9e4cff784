"""Page-state classification after every action, and the one corrective retry."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from formfill._dom import CONTROL_TAGS, NON_FIELD_TYPES, Doc, clean, input_type, norm, tag_of
from formfill._forms import classify_document, submit_candidates
from formfill._notices import detect_captcha, detect_refusal
from formfill._types import FillVariant, FormInfo, KanaScript, PageSnapshot, PageState

_SUCCESS_TEXT = re.compile(
    r"送信(?:が)?完了|送信(?:いた)?しました|送信されました|送信いたしました|ありがとうございました|受け?付け?(?:いた)?しました"
    r"|(?:お問い?合わ?せ|ご連絡|ご送信|ご依頼|お申し?込み|ご相談)(?:を)?(?:いただき|頂き|下さり|くださり)(?:まことに|誠に)?ありがとうございま(?:す|した)"
    r"|担当者?(?:より|から)(?:折り返し)?(?:ご連絡|連絡)(?:いたします|させていただきます|差し上げます)"
    r"|回答(?:を|が)記録(?:し|され)ました|your response has been recorded|thanks for submitting|thank you for submitting"
    r"|受付(?:が)?完了|お問い?合わ?せ(?:を|が)?(?:受け?付け?|承り)|承りました|お申し?込み(?:を)?(?:受け?付け?|承り)"
    r"|thank you for (?:your|contacting)|thanks for (?:your|contacting|reaching)|has been (?:sent|submitted|received)"
    r"|was (?:sent|submitted) successfully|successfully (?:sent|submitted)|we(?:'ll| will) (?:get back|be in touch|contact you)"
    r"|received your (?:message|inquiry|enquiry)|message sent"
)
_SUCCESS_URL = re.compile(
    r"thanks?(?:[-_]?you)?|complete[d]?|finish(?:ed)?|/done|kanryo|kanryou|/sent\b|success|/end\b|/fin\b",
    re.I,
)
_SUCCESS_CLASS = re.compile(
    r"success|thank|complete|sent-ok|mail-sent|is-sent|submitted|done", re.I
)
_ERROR_CLASS = re.compile(
    r"(?:^|[\s_-])(?:errors?|err|invalid|is-invalid|has-error|not-valid|alert-danger|warning|mfp_err|smf-error|error-message|errmsg|hs-error-msgs?|help-block|field-error|validation)(?:$|[\s_-])",
    re.I,
)
_ERROR_TEXT = re.compile(
    r"入力内容に(?:誤り|不備|問題|エラー)|入力エラー|エラーがあります|エラーが発生しました|未入力(?:です|の項目)|入力されていません"
    r"|正しく(?:入力|ご入力)(?:されていません|して下さい|してください)|正しくありません|形式が(?:正しく|不正|違)"
    r"|(?<![はが※印])必須項目です|(?:を|が)入力してください|ご入力ください|選択してください|一致しません|確認してください"
    r"|(?:して|入れて|選んで)(?:ください|下さい)|必須です|不正です|誤りがあります|できません"
    r"|is required|are required|please (?:enter|fill|complete|select|check)|invalid|must be|does not match|not valid|problems? with"
)
_STRONG_ERROR_TEXT = re.compile(
    r"入力内容に(?:誤り|不備|問題|エラー)|入力エラー|エラーがあります|未入力の項目|入力されていない項目|正しく入力されていない"
    r"|必須項目が(?:未入力|入力されて)|one or more fields have an error|please correct the errors"
)
_HTTP_ERROR = re.compile(
    r"internal server error|bad gateway|service unavailable|gateway time-?out|404 not found|\b50[0-4]\b.{0,20}error"
    r"|ページが見つかりません|お探しのページ(?:は|が)見つかりません|サーバーエラー|サーバエラー|システムエラー|not found|forbidden|\b403\b",
    re.I,
)
_SEND = re.compile(
    r"^(?:この内容で|上記(?:の)?内容で|以上の内容で)?(?:送信|送信する|送信します|送る|確定|確定する|申し込む|申込む|お申し込み|登録する|完了)(?:する)?$"
    r"|^(?:submit|send|send message|confirm and send|complete)$|内容で送信|送信する$|^送信$"
)
_CONFIRM_TEXT = re.compile(
    r"確認画面|入力内容(?:の|を)?(?:ご)?確認|以下の内容で|下記の内容で|内容をご確認|ご確認(?:の上|ください|下さい)|よろしければ|confirm(?:ation)?|please review"
)
_BACK = re.compile(r"戻る|もどる|修正|訂正|back|edit|キャンセル|cancel")


def classify_page(snapshot: PageSnapshot, form_selector_before: str | None = None) -> PageState:
    """What the page says now: form, confirm, success, validation_error, refused, captcha, error.

    ``form_selector_before`` is the selector of the form just submitted; when given, a page
    where that very form is gone and nothing else is said is "unknown" (the send's outcome is
    in doubt), and a page where it is still there, unchanged, is "form".
    """
    docs = [Doc(snapshot.html, snapshot.url)]
    docs.extend(Doc(fr.html, fr.url) for fr in snapshot.frames)
    main = docs[0]
    frame_indexes: list[int | None] = [None, *(fr.index for fr in snapshot.frames)]
    # The browser's rendered text is exact about visibility; the markup is the fallback.
    texts = [
        snapshot.text or main.text(main.root.body if main.root.body is not None else main.root)
    ]
    texts.extend(d.text(d.root) for d in docs[1:])
    page_text = clean(" ".join([snapshot.title, *texts]))
    normalized = norm(page_text)

    forms: list[FormInfo] = []
    for d, fi in zip(docs, frame_indexes, strict=True):
        forms.extend(classify_document(d, fi))
    editable = [f for f in forms if f.kind == "contact" and _editable(f)]

    cf7 = _cf7_status(docs)
    if cf7 == "sent":
        return PageState(kind="success", messages=_messages(docs, _SUCCESS_CLASS) or ("mail_sent",))
    if cf7 in ("failed", "spam", "aborted"):
        return PageState(kind="error", messages=(f"cf7:{cf7}",), reason=cf7)
    for d in docs:
        msg = _success_box(d)
        if msg:
            return PageState(kind="success", messages=(msg,))

    errors, error_fields = _validation_errors(docs)
    if cf7 in ("invalid", "unaccepted") or (errors and (editable or _has_any_form(docs))):
        hints = _error_hints(" ".join(errors), error_fields, forms)
        return PageState(
            kind="validation_error",
            submit_selector=editable[0].submit_selector if editable else None,
            messages=tuple(errors) or (f"cf7:{cf7}",),
            error_fields=tuple(error_fields),
            error_hints=hints,
        )

    confirm = _confirm_button(docs, editable, normalized)
    if confirm is not None:
        return PageState(kind="confirm", submit_selector=confirm, messages=())

    before_gone = form_selector_before is not None and not _still_there(docs, form_selector_before)
    if not editable:
        m = _SUCCESS_TEXT.search(normalized)
        if m:
            return PageState(kind="success", messages=(_around(normalized, m.start()),))
        path = urlsplit(snapshot.url).path.lower() + "?" + urlsplit(snapshot.url).query.lower()
        if _SUCCESS_URL.search(path) and not _HTTP_ERROR.search(normalized[:300]):
            return PageState(kind="success", messages=(snapshot.url,))

    refusal = detect_refusal(page_text)
    if refusal:
        return PageState(kind="refused", messages=(refusal,), reason="refused_sales")
    captcha_kind = None
    for d in docs:
        captcha_kind = detect_captcha(d.html)
        if captcha_kind:
            break
    if captcha_kind and (editable or _challenge_page(normalized)):
        return PageState(kind="captcha", messages=(captcha_kind,), reason=captcha_kind)
    if editable and not before_gone:
        best = max(editable, key=lambda f: f.score)
        return PageState(kind="form", submit_selector=best.submit_selector)
    if _HTTP_ERROR.search(normalized) and len(normalized) < 2000:
        m = _HTTP_ERROR.search(normalized)
        return PageState(
            kind="error",
            messages=(_around(normalized, m.start() if m else 0),),
            reason="http_error",
        )
    if editable:
        best = max(editable, key=lambda f: f.score)
        return PageState(kind="form", submit_selector=best.submit_selector)
    return PageState(kind="unknown")


def _editable(form: FormInfo) -> bool:
    return any(
        f.visible
        and f.role not in ("honeypot", "captcha", "consent")
        and f.type not in ("checkbox", "radio")
        for f in form.fields
    )


def _has_any_form(docs: list[Doc]) -> bool:
    return any(True for d in docs for _ in d.root.iter("form", "textarea"))


def _still_there(docs: list[Doc], selector: str) -> bool:
    m = re.fullmatch(r'\[data-mk="([^"]+)"\]', selector)
    if not m:
        return True
    for d in docs:
        for el in d.root.iter("form"):
            if el.get("data-mk") == m.group(1) and not d.is_hidden(el):
                return True
    return False


def _cf7_status(docs: list[Doc]) -> str | None:
    for d in docs:
        for form in d.root.iter("form"):
            classes = form.get("class") or ""
            status = form.get("data-status")
            if "wpcf7-form" not in classes and status is None:
                continue
            for state in ("sent", "invalid", "unaccepted", "failed", "spam", "aborted"):
                if status == state or state in classes.split():
                    return state
        for el in d.root.iter("div"):
            cls = el.get("class") or ""
            if "wpcf7-mail-sent-ok" in cls and not d.is_hidden(el):
                return "sent"
            if "wpcf7-validation-errors" in cls and not d.is_hidden(el):
                return "invalid"
            if "wpcf7-response-output" in cls and not d.is_hidden(el):
                text = norm(d.text(el))
                if text and _SUCCESS_TEXT.search(text):
                    return "sent"
    return None


def _success_box(d: Doc) -> str | None:
    """A visible element whose class says success and whose text says thanks."""
    for el in d.root.iter("div", "p", "section", "span", "h1", "h2", "h3"):
        cls = (el.get("class") or "") + " " + (el.get("id") or "")
        if not cls.strip() or not _SUCCESS_CLASS.search(cls) or _ERROR_CLASS.search(cls):
            continue
        if d.is_hidden(el):
            continue
        text = d.text(el)
        if text and len(text) < 600 and _SUCCESS_TEXT.search(norm(text)):
            return text[:200]
    return None


def _messages(docs: list[Doc], pattern: re.Pattern[str]) -> tuple[str, ...]:
    out: list[str] = []
    for d in docs:
        for el in d.root.iter("div", "p", "span"):
            if pattern.search(el.get("class") or "") and not d.is_hidden(el):
                text = d.text(el)
                if text:
                    out.append(text[:200])
    return tuple(out[:5])


def _validation_errors(docs: list[Doc]) -> tuple[list[str], list[str]]:
    messages: list[str] = []
    fields: list[str] = []
    for d in docs:
        for el in d.root.iter():
            if not isinstance(el.tag, str):
                continue
            tag = tag_of(el)
            if tag in CONTROL_TAGS:
                if (
                    (el.get("aria-invalid") == "true" or _ERROR_CLASS.search(el.get("class") or ""))
                    and el.get("name")
                    and not d.is_hidden(el)
                    and el.get("name") not in fields
                ):
                    fields.append(el.get("name") or "")
                continue
            if tag in ("form", "body", "html", "script", "style", "label", "option"):
                continue
            cls = el.get("class") or ""
            ident = el.get("id") or ""
            if not (
                _ERROR_CLASS.search(cls) or _ERROR_CLASS.search(ident) or el.get("role") == "alert"
            ):
                continue
            if d.is_hidden(el) or d.contains_control(el):
                continue
            text = d.text(el)
            if not text or len(text) > 300:
                continue
            t = norm(text)
            # An "error" class alone is not enough: notes such as 「※印は必須項目です」 wear it too.
            if not (_ERROR_TEXT.search(t) or "not-valid-tip" in cls):
                continue
            if text not in messages:
                messages.append(text)
            name = _field_of_error(d, el)
            if name and name not in fields:
                fields.append(name)
    if not messages:
        for d in docs:
            body = d.root.body if d.root.body is not None else d.root
            m = _STRONG_ERROR_TEXT.search(norm(d.text(body)))
            if m:
                messages.append(_around(norm(d.text(body)), m.start()))
    return messages, fields


def _field_of_error(d: Doc, el: HtmlElement) -> str | None:
    """The control an error text belongs to: CF7's wrapper name, else the control just before."""
    for depth, anc in enumerate(d.iter_ancestors(el)):
        if depth > 3 or tag_of(anc) in ("form", "body"):
            break
        data_name = anc.get("data-name")
        if data_name:
            return str(data_name)
    node: HtmlElement | None = el
    for _ in range(4):
        if node is None or tag_of(node) in ("form", "body", "table", "dl"):
            break
        for prev in node.itersiblings(preceding=True):
            named = [
                c
                for c in prev.iter("input", "select", "textarea")
                if input_type(c) not in NON_FIELD_TYPES and c.get("name")
            ]
            if named:
                return str(named[-1].get("name"))
        node = node.getparent()
    return None


def _error_hints(text: str, error_fields: list[str], forms: list[FormInfo]) -> frozenset[str]:
    t = norm(text).replace(" ", "")
    hints: set[str] = set()
    if re.search(r"ハイフン|[-ー－]なし|数字のみ|数字で|半角数字|hyphen|digits|numbers only", t):
        if re.search(r"郵便|〒|postal|zip", t) and not re.search(r"電話|tel|phone", t):
            hints.add("postal_no_hyphen")
        else:
            hints.add("phone_no_hyphen")
    # 「フリガナはひらがなで」: the field's name (フリガナ/ふりがな) says nothing about the script.
    if re.search(r"ひらがな|平仮名", t):
        hints.add("hiragana")
    if re.search(r"カタカナ|片仮名|全角カナ", t):
        hints.add("katakana")
    if "全角" in re.sub(r"全角(?:カタ)?カナ", "", t):
        hints.add("zenkaku")
    if "半角" in t and "半角数字" not in t:
        hints.add("hankaku")
    by_name = {f.name: f for form in forms for f in form.fields}
    for name in error_fields:
        field = by_name.get(name)
        if field is None:
            continue
        if field.role in ("phone", "phone_part") and not hints & {"zenkaku", "hankaku"}:
            hints.add("phone_no_hyphen")
        elif field.role == "postal_code":
            hints.add("postal_no_hyphen")
        elif field.role.endswith("_kana") and not hints & {"hiragana", "katakana"}:
            hints.add("katakana" if "hiragana" in field.hints else "hiragana")
    return frozenset(hints)


def _confirm_button(docs: list[Doc], editable: list[FormInfo], normalized: str) -> str | None:
    """The 送信する button of a confirmation step (a read-only echo, or a confirm overlay)."""
    has_confirm_text = bool(_CONFIRM_TEXT.search(normalized))
    for d in docs:
        send: HtmlElement | None = None
        back = False
        # Buttons inside forms, then buttons outside any form (JS confirm overlays).
        groups: list[tuple[HtmlElement, list[HtmlElement]]] = [
            (form, submit_candidates(d, form, True)) for form in d.root.iter("form")
        ]
        loose = [
            c
            for c in submit_candidates(d, d.root, True, links=False)
            if not any(tag_of(a) == "form" for a in d.iter_ancestors(c))
        ]
        groups.append((d.root, loose))
        for container, candidates in groups:
            for el in candidates:
                if d.is_hidden(el):
                    continue
                text = norm(d.control_value_text(el)).replace(" ", "")
                if _BACK.search(text) and not re.search(r"送信|send|submit", text):
                    back = True
                    continue
                if (
                    send is None
                    and _SEND.search(text)
                    and "確認" not in text
                    and (
                        (container is not d.root and _form_is_readonly(d, container))
                        or (container is d.root and (_in_overlay(d, el) or not editable))
                    )
                ):
                    send = el
        if send is not None and (back or has_confirm_text):
            return d.selector(send)
    return None


def _form_is_readonly(d: Doc, container: HtmlElement) -> bool:
    for el in container.iter("input", "select", "textarea"):
        typ = input_type(el)
        if typ in NON_FIELD_TYPES or typ in ("checkbox", "radio"):
            continue
        if el.get("readonly") is not None or el.get("disabled") is not None:
            continue
        if not d.is_hidden(el):
            return False
    return True


def _in_overlay(d: Doc, el: HtmlElement) -> bool:
    for anc in d.iter_ancestors(el):
        ident = f"{anc.get('id') or ''} {anc.get('class') or ''}".lower()
        if re.search(r"confirm|overlay|modal|dialog|mfp_", ident) or anc.get("role") == "dialog":
            return True
    return False


def _challenge_page(text: str) -> bool:
    return bool(
        re.search(
            r"checking your browser|verify you are human|ロボットではありません|just a moment", text
        )
    )


def _around(text: str, pos: int) -> str:
    return text[max(0, pos - 40) : pos + 80].strip()


def corrective_variant(state: PageState, previous: FillVariant) -> FillVariant | None:
    """The variant for the single corrective retry after a validation error, or None.

    Reads the hints the page gave (「ハイフンなしで」, 「ひらがなで」, 「全角で」…) and the
    fields it flagged; returns None when nothing would change, so the caller fails the send
    instead of repeating the same values.
    """
    if state.kind != "validation_error":
        return None
    hints = state.error_hints
    variant = previous
    if "phone_no_hyphen" in hints:
        variant = replace(variant, phone_no_hyphen=True)
    if "postal_no_hyphen" in hints:
        variant = replace(variant, postal_no_hyphen=True)
    if "hiragana" in hints and "katakana" not in hints:
        variant = replace(variant, kana_script="hiragana")
    elif "katakana" in hints and "hiragana" not in hints:
        variant = replace(variant, kana_script="katakana")
    elif "katakana" in hints and "hiragana" in hints:
        flipped: KanaScript = "katakana" if previous.kana_script == "hiragana" else "hiragana"
        variant = replace(variant, kana_script=flipped)
    if "zenkaku" in hints and "hankaku" not in hints:
        variant = replace(variant, zenkaku=True, hankaku=False)
    elif "hankaku" in hints and "zenkaku" not in hints:
        variant = replace(variant, hankaku=True, zenkaku=False)
    return None if variant == previous else variant
