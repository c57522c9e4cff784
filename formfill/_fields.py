"""Fields of one form: controls → logical fields (radio groups are one field) → roles.

The roles come from :mod:`formfill._roles`; this module gathers the texts around each control
(own label, the text just before it, the table/definition-list row label, placeholder, name)
and then looks at the form as a whole: split names and phone boxes, the second e-mail box, a
single address box on a form without prefecture and city.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from lxml.html import HtmlElement

from formfill._dom import NON_FIELD_TYPES, Doc, clean, input_type, norm, tag_of
from formfill._roles import (
    Part,
    compact,
    has_cjk,
    has_kana_marker,
    ident_words,
    is_kana_sample,
    part_from_text,
    role_from_autocomplete,
    role_from_text,
    value_hints,
)
from formfill._types import FieldInfo, OptionInfo, Role

# The 47 prefectures (都道府県) in the conventional north-to-south order of Japanese forms.
PREFECTURES: tuple[str, ...] = (
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
)

_STRONG_HONEYPOT = re.compile(
    r"_formrun_gotcha|honeypot|honey[-_]?pot|bot[-_]?field|gotcha|ohnohoney|leave[-_]?(?:this[-_]?)?blank|nospam|no[-_]spam|anti[-_]?spam|_wpcf7_ak_hp|fax[-_]?only|contact_me_by_fax"
    r"|(?:^|[-_\s]|tasty)honey(?:$|[-_\s])",
    re.I,
)
_WEAK_HONEYPOT = re.compile(
    r"(?:^|[-_\s])(?:hp|trap|spam|bot|robot|hidden|dummy|fake)(?:$|[-_\s\d])", re.I
)
_CONSENT = re.compile(
    r"同意|承諾|了承|agree|consent|accept|privacy|プライバシー|個人情報|規約|ポリシー|確認しました|確認の上|terms"
    # The same consent in the web's other languages (data protection, 「I have read」).
    r"|datenschutz|einverstanden|zustimm|akzeptier|acepto|privacidad|accetto|acconsento|consenso"
    r"|j'ai lu|akkoord|zgadzam|zgod[ay]|samtyck|godkänn|соглас|동의|\bgdpr\b|\brgpd\b|dsgvo|i have read"
)
_REQUIRED = re.compile(r"必須|required|\*|※必|[(（]必[)）]")
_INQUIRY_OPTION = re.compile(
    r"その他|お問い?合わ?せ|ご?相談|資料請求|見積|ご?提案|サービス|製品|商品|取材|採用|協業|提携|パートナー|other|inquiry|general|sales|question|support"
    # A topic list of the web's other pages and languages.
    r"|enquiry|billing|feedback|\bpress\b|partnership|career|technical|complaint|suggestion"
    r"|\bautre|\bandere|\botro\b|\baltro\b|другое|allgemein|ventas|vendite|verkauf|soporte|assistenza"
)
_GROUP_SUFFIX = re.compile(r"(?:\[\d*\]|[-_]?\d+|[-_](?:sei|mei|last|first|1st|2nd|3rd))$", re.I)
_EMAIL_SAMPLE = re.compile(r"@|\.co\.jp|\.com\b")
_PHONE_SAMPLE = re.compile(r"\d{2,4}[-ー－]\d{2,4}[-ー－]\d{3,4}|^0\d{9,10}$")
_POSTAL_SAMPLE = re.compile(r"^(?:例[:：)）]?\s*)?〒?\d{3}[-ー－]\d{4}$")
# International and North-American examples: 「+81 90 1234 5678」, 「(555) 123-4567」.
_PHONE_SAMPLE_INTL = re.compile(r"^\+\d[\d().-]{7,}$|^\(\d{2,4}\)\d{3,4}[-.]?\d{4}$")
# The example names of form placeholders: 「John Doe」, 「Jane Smith」, 「山田 太郎」.
_NAME_SAMPLE = re.compile(
    r"^(?:例[:：)）]?\s*|e\.?g\.?:?\s*)?(?:john|jane|max|山田|鈴木|佐藤)\b|\b(?:doe|smith|mustermann)$"
    r"|山田\s*太郎|山田\s*花子|佐藤\s*花子"
)
# ``quiz``: Contact Form 7's quiz tag and its kin, a question only a person should answer.
_CAPTCHA_NAME = re.compile(r"captcha|quiz|^recaptcha_(?:challenge|response)_field$", re.I)
# The box for someone else's address (send to a friend, a share form): an e-mail of its own,
# never the confirmation of the sender's.
_RECIPIENT = re.compile(
    r"recipient|destinataire|empfänger|destinatari|friend|\bami\b|^to\b|宛先|送り先|送信先"
)
_MAILISH = re.compile(r"mail")
# A box asking to join a mailing list: ticking it is no part of sending a message.
_OPT_IN = re.compile(
    r"newsletter|mailing ?list|subscribe|keep me (?:updated|informed)|send me (?:news|updates|offers)"
    r"|infolettre|メルマガ|メールマガジン|ニュースレター|配信を希望"
)
# Numbered boxes of one question (Gravity Forms' input_6.1, input_6.2 …): their common stem.
_CHOICE_STEM = re.compile(r"[._-]?\d+\]?$")
_CHOICE_ROLES: frozenset[Role] = frozenset({"prefecture", "inquiry_type", "consent", "other"})
# Entries of a list of countries (English and their own names): a country list is no state list,
# whatever its row says. Entries of a list of US states and Canadian provinces: a state list.
_COUNTRY_OPTION = re.compile(
    r"^(?:japan|日本|united states|usa|u\.s\.a\.|canada|germany|deutschland|france|united kingdom"
    r"|china|中国|australia|italy|italia|spain|españa|brazil|brasil|netherlands|nederland|india"
    r"|mexico|méxico|afghanistan|albania|algeria|argentina|austria|österreich|belgium|belgique"
    r"|switzerland|schweiz|suisse|sweden|sverige|norway|norge|denmark|danmark|poland|polska"
    r"|russia|россия|korea|south korea|대한민국|韓国|アメリカ|アメリカ合衆国)$"
)
_US_STATE_OPTION = re.compile(
    r"^(?:alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia"
    r"|hawaii|idaho|illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts"
    r"|michigan|minnesota|mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey"
    r"|new mexico|new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania"
    r"|rhode island|south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington"
    r"|west virginia|wisconsin|wyoming|alberta|british columbia|manitoba|ontario|quebec|québec"
    r"|nova scotia|saskatchewan)$"
)


@dataclass
class _Field:
    """A logical field while it is being classified (mutable; frozen into FieldInfo later)."""

    el: HtmlElement
    tag: str
    type: str
    name: str
    visible: bool
    # Visible as far as the form itself goes: a form that scripts open is hidden as a whole,
    # yet its fields are what they are; only what the form hides inside itself is a trap.
    shown: bool = True
    own: str = ""
    near: list[str] = field(default_factory=list)
    row: str = ""
    after: str = ""
    placeholder: str = ""
    ident: str = ""
    required: bool = False
    maxlength: int | None = None
    options: tuple[OptionInfo, ...] = ()
    inputs: list[HtmlElement] = field(default_factory=list)
    role: Role = "other"
    part: Part | None = None
    part_index: int | None = None
    group_size: int | None = None
    kana: bool = False
    group_key: object = None
    label_el: HtmlElement | None = None
    source: str = ""

    @property
    def label(self) -> str:
        for text in (self.own if self.type not in ("radio", "checkbox") else "", self.row):
            if text:
                return text
        if self.near:
            return self.near[0]
        return self.placeholder or self.name


def extract_fields(doc: Doc, container: HtmlElement, *, pseudo: bool = False) -> list[FieldInfo]:
    """Classify the controls of ``container`` (a form, or a div holding a JS-rendered form)."""
    raw = _logical_fields(doc, container, pseudo=pseudo)
    for f in raw:
        _gather_texts(doc, f, container)
        _classify(doc, f)
    _form_level_rules(raw)
    return [_freeze(doc, f) for f in raw]


def _controls(doc: Doc, container: HtmlElement, pseudo: bool) -> Iterable[HtmlElement]:
    for el in container.iter("input", "select", "textarea"):
        if tag_of(el) == "input" and input_type(el) in NON_FIELD_TYPES:
            continue
        if pseudo and any(tag_of(a) == "form" for a in doc.iter_ancestors(el)):
            continue
        yield el
    form_id = container.get("id") if tag_of(container) == "form" else None
    if form_id:
        # Controls placed outside the form but bound to it with form="id".
        for el in doc.root.xpath("//*[@form=$f]", f=form_id):
            if (
                tag_of(el) in ("input", "select", "textarea")
                and input_type(el) not in NON_FIELD_TYPES
            ):
                yield el


def _logical_fields(doc: Doc, container: HtmlElement, pseudo: bool) -> list[_Field]:
    fields: list[_Field] = []
    groups: dict[tuple[str, str], _Field] = {}
    form_hidden = doc.is_hidden(container)
    for el in _controls(doc, container, pseudo):
        tag = tag_of(el)
        typ = input_type(el)
        name = el.get("name") or ""
        visible = not doc.is_hidden(el)
        shown = visible or (form_hidden and not doc.hidden_within(el, container))
        shown = shown or _in_hidden_step(doc, el, container)
        if typ in ("radio", "checkbox"):
            visible = _choice_visible(doc, el, visible)
            shown = visible or (form_hidden and _choice_visible(doc, el, shown, container))
        if typ in ("radio", "checkbox") and name:
            key = (typ, name)
            existing = groups.get(key)
            if existing is not None:
                existing.inputs.append(el)
                existing.visible = existing.visible or visible
                existing.shown = existing.shown or shown
                continue
            f = _Field(el, tag, typ, name, visible, shown, inputs=[el])
            groups[key] = f
            fields.append(f)
            continue
        fields.append(_Field(el, tag, typ, name, visible, shown, inputs=[el]))
    fields.extend(_widget_fields(doc, container, pseudo))
    return fields


_STEP_BUTTON = re.compile(r"次へ|次に進む|戻る|前へ|送信|確認|next|back|previous|submit|send")


_BUTTONS = ".//button|.//input[@type='submit' or @type='button']|.//*[@role='button']"


def _in_hidden_step(doc: Doc, el: HtmlElement, container: HtmlElement) -> bool:
    """Whether ``el`` waits in another step of a JS wizard: inside a hidden part of the form
    that has its own 次へ / 戻る / 送信 buttons (a honeypot's wrapper has none)."""
    for anc in doc.iter_ancestors(el):
        if anc is container:
            return False
        if doc.is_hidden(anc) and _has_step_button(doc, anc):
            return True
    return False


def _has_step_button(doc: Doc, pane: HtmlElement) -> bool:
    return any(_STEP_BUTTON.search(norm(doc.control_value_text(b))) for b in pane.xpath(_BUTTONS))


def has_hidden_steps(doc: Doc, form: HtmlElement) -> bool:
    """Whether ``form`` is a JS wizard: a hidden part of it holds fields and its own 次へ /
    戻る / 送信 buttons (the steps not shown now)."""
    if doc.is_hidden(form):
        return False
    for button in form.xpath(_BUTTONS):
        if not doc.is_hidden(button):
            continue
        for anc in doc.iter_ancestors(button):
            if anc is form:
                break
            if doc.is_hidden(anc) and anc.xpath(".//input|.//textarea|.//select"):
                return _has_step_button(doc, anc)
    return False


_WIDGET_GROUP_ROLES = frozenset({"radiogroup", "listbox", "group", "list"})


def _widget_fields(doc: Doc, container: HtmlElement, pseudo: bool) -> list[_Field]:
    """Choices built from ``div role=radio|checkbox|option`` (Google-Forms-style widgets whose
    click handlers fill hidden inputs): one field per radio group, list box or checkbox list.
    The field's element is the group, so its ``aria-labelledby`` names it."""
    groups: dict[object, _Field] = {}
    for el in container.xpath(".//*[@role='radio' or @role='checkbox' or @role='option']"):
        if tag_of(el) == "input":
            continue
        if pseudo and any(tag_of(a) == "form" for a in doc.iter_ancestors(el)):
            continue
        group = next(
            (a for a in doc.iter_ancestors(el) if a.get("role") in _WIDGET_GROUP_ROLES),
            el.getparent(),
        )
        existing = groups.get(group)
        if existing is not None:
            existing.inputs.append(el)
            continue
        typ = "checkbox" if el.get("role") == "checkbox" else "radio"
        name = group.get("data-name") or _fed_input(group) or group.get("id") or ""
        groups[group] = _Field(
            group, tag_of(group), typ, name, not doc.is_hidden(group), inputs=[el]
        )
    return list(groups.values())


def _fed_input(group: HtmlElement) -> str:
    """The name of the hidden input a widget group writes its answer into: inside the group,
    or just after it (before the next question)."""
    candidates = list(group.iter("input"))
    sibling = group.getnext()
    for _ in range(3):
        if sibling is None or sibling.get("role") in _WIDGET_GROUP_ROLES:
            break
        candidates.extend([sibling] if tag_of(sibling) == "input" else sibling.iter("input"))
        sibling = sibling.getnext()
    for el in candidates:
        if input_type(el) == "hidden" and el.get("name"):
            return str(el.get("name"))
    return ""


def _choice_visible(
    doc: Doc, el: HtmlElement, visible: bool, container: HtmlElement | None = None
) -> bool:
    """A custom-styled checkbox hides its input behind a visible label: a person sees it.

    With ``container``, visible as far as that container goes (see ``Doc.hidden_within``).
    """
    if visible:
        return True
    label = _own_label_el(doc, el)
    if label is None:
        return False
    if container is not None:
        return not doc.hidden_within(label, container)
    return not doc.is_hidden(label)


def _own_label_el(doc: Doc, el: HtmlElement) -> HtmlElement | None:
    ident = el.get("id")
    if ident:
        labels = doc.labels_for.get(ident)
        if labels:
            return labels[0]
    for depth, anc in enumerate(doc.iter_ancestors(el)):
        if tag_of(anc) == "label":
            return anc
        if depth >= 3 or tag_of(anc) in ("form", "td", "dd", "li", "tr", "p"):
            break
    return None


def _gather_texts(doc: Doc, f: _Field, container: HtmlElement) -> None:
    el = f.el
    label_el = _own_label_el(doc, el)
    f.label_el = label_el
    own = doc.text(label_el) if label_el is not None else ""
    labelledby = el.get("aria-labelledby")
    if labelledby:
        parts = [doc.text(doc.by_id[i]) for i in labelledby.split() if i in doc.by_id]
        own = clean(" ".join([own, *parts]))
    own = own or clean(el.get("aria-label") or "")
    f.own = own
    f.placeholder = clean(el.get("placeholder") or "")
    near_from = el
    if f.type in ("radio", "checkbox") and label_el is not None and label_el in el.iterancestors():
        near_from = label_el
    f.near = [c for c in doc.preceding_chunks(near_from, container) if c.strip()][:4]
    f.row = _row_label(doc, el)
    f.after = doc.following_text(label_el if near_from is not el and label_el is not None else el)
    name = f.name
    ident = " ".join(
        x for x in (name, el.get("id") or "", el.get("class") or "", el.get("data-name") or "") if x
    )
    f.ident = ident_words(ident)
    maxlength = el.get("maxlength")
    f.maxlength = int(maxlength) if maxlength and maxlength.strip().isdigit() else None
    label_texts = " ".join([f.own, f.row, *(f.near[:1])])
    f.required = (
        el.get("required") is not None
        or el.get("aria-required") == "true"
        or "required" in (el.get("class") or "").lower()
        or any(x.get("required") is not None for x in f.inputs)
        or bool(_REQUIRED.search(label_texts))
    )
    f.group_key = _group_key(el)
    if f.tag == "select":
        f.options = tuple(_select_options(doc, el))
    elif f.type in ("radio", "checkbox"):
        f.options = tuple(_choice_options(doc, x) for x in f.inputs)


def _row_label(doc: Doc, el: HtmlElement) -> str:
    """The label of the row holding ``el``: table header cell, <dt>, fieldset legend."""
    for depth, anc in enumerate(doc.iter_ancestors(el)):
        tag = tag_of(anc)
        if tag == "td":
            tr = anc.getparent()
            if tr is not None:
                for cell in tr:
                    if tag_of(cell) == "th":
                        return doc.text(cell)
                for cell in anc.itersiblings(preceding=True):
                    if tag_of(cell) == "td" and not doc.contains_control(cell):
                        return doc.text(cell)
            return ""
        if tag == "dd":
            for sib in anc.itersiblings(preceding=True):
                if tag_of(sib) == "dt":
                    return doc.text(sib)
                if tag_of(sib) == "dd":
                    continue
                break
            return ""
        if tag == "fieldset":
            for child in anc:
                if tag_of(child) == "legend":
                    return doc.text(child)
            return ""
        if tag in ("form", "body") or depth > 6:
            return ""
    return ""


def _group_key(el: HtmlElement) -> object:
    parent = el.getparent()
    while parent is not None and tag_of(parent) in ("label", "span"):
        parent = parent.getparent()
    return parent


def _select_options(doc: Doc, el: HtmlElement) -> Iterable[OptionInfo]:
    selector = doc.selector(el)
    for opt in el.iter("option"):
        text = clean(opt.text_content())
        value = opt.get("value")
        yield OptionInfo(
            value=text if value is None else value,
            text=text,
            selector=selector,
            disabled=opt.get("disabled") is not None,
            selected=opt.get("selected") is not None,
        )


def _choice_options(doc: Doc, el: HtmlElement) -> OptionInfo:
    if tag_of(el) != "input":
        # A widget option: its words may be hidden until its list box opens.
        labelledby = [
            doc.by_id[i] for i in (el.get("aria-labelledby") or "").split() if i in doc.by_id
        ]
        text = (
            clean(el.get("aria-label") or "")
            or clean(" ".join(doc.text(x, visible_only=False) for x in labelledby))
            or doc.text(el, visible_only=False)
        )
        value = el.get("data-value", el.get("data-answer-value", text))
        state = el.get("aria-selected" if el.get("role") == "option" else "aria-checked")
        return OptionInfo(
            value=value,
            text=text,
            selector=doc.selector(el),
            disabled=el.get("aria-disabled") == "true",
            selected=state == "true",
        )
    label = _own_label_el(doc, el)
    text = doc.text(label) if label is not None else ""
    if not text:
        text = clean(el.tail or "") or doc.following_text(el, limit=30)
    return OptionInfo(
        value=el.get("value") if el.get("value") is not None else "on",
        text=text,
        selector=doc.selector(el),
        disabled=el.get("disabled") is not None,
        selected=el.get("checked") is not None,
    )


# -- roles of single fields ----------------------------------------------------------------------


def _classify(doc: Doc, f: _Field) -> None:
    if _CAPTCHA_NAME.search(f.name):
        # A CAPTCHA's own box, shown or not (a widget reveals it): never filled, never a trap.
        f.role = "captcha"
        return
    if _is_captcha_question(f):
        f.role = "captcha"
        return
    if _is_honeypot(doc, f):
        f.role = "honeypot"
        return
    if f.tag == "select" or f.type in ("radio", "checkbox"):
        f.role = _choice_role(f)
        return
    if f.name in ("g-recaptcha-response", "h-captcha-response", "cf-turnstile-response"):
        f.role = "captcha"
        return
    role, source = _text_role(f)
    f.source = source
    f.role = _type_override(f, role)
    if f.role == "inquiry_type":
        # 「Topic」, 「Reason for contacting us」 asked in a box of one line, not from a list:
        # a subject line answers it (the plan leaves a typed inquiry type empty).
        f.role = "subject"
    if f.role in ("name", "name_kana", "last_name", "first_name"):
        f.part = _part(f)
        kana = f.role == "name_kana" or _kana(f)
        f.kana = kana
        if f.role in ("last_name", "first_name"):
            f.part = "last" if f.role == "last_name" else "first"
        if f.part is not None:
            f.role = _name_role(f.part, kana)
        else:
            f.role = "name_kana" if kana else "name"
    elif f.role == "company" and _kana(f):
        f.role = "company_kana"


def _text_role(f: _Field) -> tuple[Role, str]:
    auto = f.el.get("autocomplete")
    if auto:
        role = role_from_autocomplete(auto)
        if role:
            return role, "autocomplete"
    sources: list[tuple[str, str]] = []
    if f.own:
        sources.append(("own", f.own))
    sources.extend(("near", chunk) for chunk in f.near[:3])
    if f.row:
        sources.append(("row", f.row))
    for source, text in sources:
        role = _role_of_label(text)
        if role:
            return role, source
    if f.placeholder:
        role = _role_of_label(f.placeholder) or _role_of_sample(f.placeholder)
        if role:
            return role, "placeholder"
    title = f.el.get("title")
    if title:
        role = _role_of_label(norm(title))
        if role:
            return role, "title"
    if f.ident:
        role = role_from_text(f.ident)
        if role is None and part_from_text(f.ident):
            role = "name"
        if role:
            return role, "ident"
    return "other", ""


# A label that is only 「Number」 (or 「Contact number」) on a form for people: the phone number.
_NUMBER_LABEL = re.compile(
    r"^(?:your |contact |mobile )?(?:number|no\.?)\s*(?:\*|\(required\)|:)?\s*$"
)


def _role_of_label(text: str) -> Role | None:
    t = norm(text)
    role = role_from_text(t)
    if role is None and _NUMBER_LABEL.match(t):
        return "phone"
    if role is None and len(compact(t)) <= 12 and part_from_text(t):
        return "name"
    return role


def _role_of_sample(placeholder: str) -> Role | None:
    p = norm(placeholder)
    if _EMAIL_SAMPLE.search(p):
        return "email"
    if _POSTAL_SAMPLE.search(p.replace(" ", "")):
        return "postal_code"
    if _PHONE_SAMPLE.search(p.replace(" ", "")) or _PHONE_SAMPLE_INTL.match(p.replace(" ", "")):
        return "phone"
    if p.startswith(("http", "www.")):
        return "url"
    if _NAME_SAMPLE.search(p):
        return "name"
    return None


def _type_override(f: _Field, role: Role) -> Role:
    typ = f.type
    if typ == "email" and role not in ("email", "email_confirm"):
        return "email"
    if typ == "tel" and role not in ("phone", "fax", "phone_part", "postal_code"):
        return "phone"
    if typ == "url" and role == "other":
        return "url"
    if typ in ("password", "file"):
        return "other"
    if f.tag == "textarea" and role not in (
        "message",
        "address",
        "address_full",
        "captcha",
        "honeypot",
    ):
        # Nobody asks for a name or a subject in a multi-line box: it is the message.
        return "message"
    return role


def _part(f: _Field) -> Part | None:
    candidates = [f.own, *(f.near[:1])]
    if f.placeholder and len(compact(f.placeholder)) <= 8:
        candidates.append(f.placeholder)
    for text in candidates:
        if text:
            part = part_from_text(norm(text))
            if part:
                return part
    return part_from_text(f.ident)


def _kana(f: _Field) -> bool:
    texts = [f.own, *(f.near[:2])]
    if f.source in ("row", "placeholder", "ident", "title") or not f.own:
        texts.append(f.row)
    if any(has_kana_marker(norm(t)) for t in texts if t):
        return True
    if f.placeholder and is_kana_sample(f.placeholder):
        return True
    return bool(re.search(r"\b(?:kana|furigana|hurigana|yomi|ruby|furi)\b", f.ident))


def _name_role(part: Part, kana: bool) -> Role:
    if part == "last":
        return "last_name_kana" if kana else "last_name"
    return "first_name_kana" if kana else "first_name"


def _required_by_markup(f: _Field, raw_ident: str) -> bool:
    """A hidden box the markup itself requires (``required``, ``aria-required``) is a question a
    script opens: a trap can never be required, or nobody could send the form. The engine types
    into visible boxes only, so it still leaves this one alone."""
    return (
        f.el.get("required") is not None or f.el.get("aria-required") == "true"
    ) and not _WEAK_HONEYPOT.search(raw_ident)


def _is_captcha_question(f: _Field) -> bool:
    """A box whose own label puts a CAPTCHA question (「číslo z obrázku」, 「3 + 4 =」): a
    CAPTCHA even while a script still hides it, never a trap to leave empty."""
    if f.tag != "textarea" and f.type in ("radio", "checkbox", "select", "file", "password"):
        return False
    raw_ident = " ".join(x for x in (f.name, f.el.get("id") or "", f.el.get("class") or "") if x)
    # A trap's name (「antispam」) does not make a shown box whose label asks a question a
    # trap: a person is asked to answer it, so the form is one the engine must not send.
    if _STRONG_HONEYPOT.search(raw_ident) and not f.shown:
        return False
    return role_from_text(norm(" ".join([f.own, *f.near[:1]]))) == "captcha"


def _is_honeypot(doc: Doc, f: _Field) -> bool:
    raw_ident = " ".join(x for x in (f.name, f.el.get("id") or "", f.el.get("class") or "") if x)
    if _STRONG_HONEYPOT.search(raw_ident):
        return True
    text_like = f.tag == "textarea" or f.type not in ("radio", "checkbox", "select", "file")
    if f.tag == "select":
        text_like = False
    if text_like and not f.shown and not _required_by_markup(f, raw_ident):
        return True
    if role_from_text(norm(" ".join([f.own, *f.near[:1]]))) == "honeypot":
        return True
    if _WEAK_HONEYPOT.search(raw_ident) and (
        f.el.get("tabindex") == "-1" or (f.el.get("autocomplete") or "") in ("off", "nope")
    ):
        return True
    if (
        _WEAK_HONEYPOT.search(raw_ident)
        and text_like
        and not f.required
        and not (f.own or f.near or f.row or f.placeholder or f.el.get("title"))
    ):
        return True  # a box named 「field_hp」 with no words at all for a person to read
    if f.type == "checkbox" and not f.shown:
        return True
    return bool(
        f.el.get("tabindex") == "-1"
        and f.el.get("autocomplete") == "off"
        and text_like
        and not f.own
    )


def _choice_role(f: _Field) -> Role:
    if f.tag == "select":
        texts = {o.text for o in f.options} | {o.value for o in f.options}
        if sum(1 for p in PREFECTURES if p in texts or p.rstrip("都府県") in texts) >= 40:
            return "prefecture"
        option_texts = [norm(o.text) for o in f.options]
        if sum(1 for t in option_texts if _COUNTRY_OPTION.match(t)) >= 5:
            return "other"
        if sum(1 for t in option_texts if _US_STATE_OPTION.match(t)) >= 20:
            return "prefecture"
    # A radio or checkbox's own label is its option text, not the group's label.
    label_texts = [f.own] if f.tag == "select" else []
    label_texts += [*(f.near[:2]), f.row]
    labels = norm(" ".join(t for t in label_texts if t))
    own_and_options = norm(" ".join([f.own, f.after, *(o.text for o in f.options)]))
    if (
        f.type == "checkbox"
        and len(f.inputs) == 1
        and not f.required
        and _OPT_IN.search(norm(" ".join([f.own, *(o.text for o in f.options)]) or f.after))
    ):
        return "other"  # 「Add me to the mailing list」: left as it is
    if (
        f.type == "checkbox"
        and (_CONSENT.search(own_and_options) or _CONSENT.search(labels))
        and (len(f.inputs) == 1 or _CONSENT.search(own_and_options))
    ):
        return "consent"
    role: Role | None = None
    for text in [*label_texts, f.ident]:
        found = role_from_text(norm(text)) if text else None
        if found in ("inquiry_type", "message", "subject", "prefecture"):
            role = found
            break
        role = role or found
    if role in ("inquiry_type", "message", "subject"):
        return "inquiry_type"
    if role in _CHOICE_ROLES:
        return role
    # A list of topics (「Billing / Technical / Press」) asks what the message is about, even
    # when the list is named for whom it goes to (``dept``).
    if role in (None, "department") and any(
        _INQUIRY_OPTION.search(norm(o.text)) for o in f.options
    ):
        return "inquiry_type"
    return "other"


# -- the form as a whole -------------------------------------------------------------------------

_FAMILY: dict[str, str] = {
    "phone": "phone",
    "phone_part": "phone",
    "fax": "fax",
    "postal_code": "postal",
    "postal_code_part": "postal",
    "name": "name",
    "last_name": "name",
    "first_name": "name",
    "name_kana": "kana",
    "last_name_kana": "kana",
    "first_name_kana": "kana",
    "address": "address",
}


def _form_level_rules(fields: list[_Field]) -> None:
    _split_groups(fields)
    _hidden_choice_groups(fields)
    seen_email = False
    for f in fields:
        if _is_recipient(f):
            f.role = "email"
            continue
        if f.role == "email":
            if seen_email:
                f.role = "email_confirm"
            seen_email = True
        elif f.role == "email_confirm" and not seen_email:
            f.role = "email"
            seen_email = True
    roles = {f.role for f in fields}
    if "address" in roles and "prefecture" not in roles and "city" not in roles:
        for f in fields:
            if f.role == "address":
                f.role = "address_full"
    for prev, f in zip(fields, fields[1:], strict=False):
        # 「Nom」 beside 「Prénom」, 「Name」 beside 「First name」: the plain one is the family name.
        if {prev.role, f.role} == {"name", "first_name"} and "last_name" not in roles:
            plain = prev if prev.role == "name" else f
            plain.role, plain.part = "last_name", "last"
        # 「Nome」 beside 「Cognome」, 「Name」 beside 「Surname」: the plain one is the given name.
        if {prev.role, f.role} == {"name", "last_name"} and "first_name" not in roles:
            plain = prev if prev.role == "name" else f
            plain.role, plain.part = "first_name", "first"
        if (
            f.role == "name_kana"
            and prev.role in ("company", "company_kana")
            and not re.search(r"名前|氏名|担当", f.own + f.row + "".join(f.near[:1]))
        ):
            f.role = "company_kana"
    messages = [f for f in fields if f.role == "message"]
    if len(messages) > 1:
        best = max(messages, key=_message_strength)
        for f in messages:
            if f is not best:
                f.role = "other"


def _is_recipient(f: _Field) -> bool:
    """Whether ``f`` asks for someone else's e-mail address (「To」, 「Vos destinataires」,
    ``recipient_email``): an address of its own, not the sender's typed again."""
    if f.tag == "select" or f.type in ("radio", "checkbox"):
        return False
    texts = [norm(t) for t in (f.own, *f.near[:1], f.row, f.placeholder) if t]
    mailish = f.role in ("email", "email_confirm") or bool(_MAILISH.search(f.ident))
    return mailish and (
        any(_RECIPIENT.search(t) for t in texts) or bool(_RECIPIENT.search(f.ident))
    )


def _hidden_choice_groups(fields: list[_Field]) -> None:
    """Hidden check boxes that answer one question together (several boxes of one name, or
    numbered names such as input_6.1, input_6.2, each with its own words) are a question a
    script opens, not a trap. They become ``other`` only when optional: an unknown optional
    box is never ticked, so the engine still fills nothing a script hides."""
    hidden = [
        f
        for f in fields
        if f.role == "honeypot"
        and f.type == "checkbox"
        and not f.shown
        and not f.required
        and f.own
        and not _STRONG_HONEYPOT.search(f.name)
    ]
    stems: dict[str, int] = {}
    for f in hidden:
        stem = _CHOICE_STEM.sub("", f.name)
        if stem != f.name:
            stems[stem] = stems.get(stem, 0) + 1
    for f in hidden:
        if len(f.inputs) >= 2 or stems.get(_CHOICE_STEM.sub("", f.name), 0) >= 2:
            f.role = "other"


def _message_strength(f: _Field) -> tuple[int, int]:
    text = norm(" ".join([f.own, f.row, *f.near[:1], f.ident]))
    strong = bool(
        re.search(r"内容|本文|メッセージ|お問い?合わ?せ|相談|質問|message|inquiry|詳細", text)
    )
    return (int(f.tag == "textarea") + 2 * int(strong), -_source_line(f))


def _source_line(f: _Field) -> int:
    """Source line of the control: earlier wins among equally good message boxes."""
    return int(f.el.sourceline or 0)


def _split_groups(fields: list[_Field]) -> None:
    i = 0
    while i < len(fields):
        fam = _FAMILY.get(fields[i].role)
        if fam is None or fields[i].tag == "select":
            i += 1
            continue
        j = i + 1
        while (
            j < len(fields)
            and _FAMILY.get(fields[j].role) == fam
            and fields[j].tag != "select"
            and _same_group(fields[i], fields[j])
        ):
            j += 1
        group = fields[i:j]
        if len(group) >= 2:
            _assign_parts(fam, group)
        elif fam in ("name", "kana") and group[0].part is not None:
            group[0].part_index = 0 if group[0].part == "last" else 1
            group[0].group_size = 2
        i = j


def _same_group(a: _Field, b: _Field) -> bool:
    if a.group_key is not None and a.group_key is b.group_key:
        return True
    stem_a = _GROUP_SUFFIX.sub("", a.name)
    stem_b = _GROUP_SUFFIX.sub("", b.name)
    # Both names must carry the suffix: 「tel」 and 「tel2」 are a phone and a second phone.
    if stem_a and stem_a == stem_b and stem_a != a.name and stem_b != b.name:
        return True
    return a.part == "last" and b.part == "first" and _FAMILY.get(a.role) == _FAMILY.get(b.role)


def _assign_parts(fam: str, group: list[_Field]) -> None:
    n = len(group)
    if fam in ("phone", "fax"):
        for k, f in enumerate(group):
            f.role = "phone_part" if fam == "phone" else "fax"
            f.part_index, f.group_size = k, n
    elif fam == "postal":
        for k, f in enumerate(group):
            f.role = "postal_code_part"
            f.part_index, f.group_size = k, n
    elif fam in ("name", "kana"):
        if n != 2:
            return
        kana = fam == "kana"
        # Two unmarked boxes under one 「お名前」 are 姓 then 名; under one 「Name」 (no Japanese
        # or Chinese words around) they are the given name then the family name.
        words = " ".join(t for f in group for t in (f.own, f.row, *f.near[:1]))
        first_box: Part = "last" if kana or has_cjk(words) else "first"
        second_box: Part = "first" if first_box == "last" else "last"
        unmarked = group[0].part is None and group[1].part is None
        for k, f in enumerate(group):
            part: Part = f.part or ("last" if k == 0 else "first")
            if unmarked:
                part = first_box if k == 0 else second_box
            f.part = part
            f.role = _name_role(part, kana)
            f.part_index, f.group_size = (0 if part == "last" else 1), 2
    elif fam == "address":
        roles: list[Role] = ["address", "building"] if n == 2 else ["city", "address", "building"]
        if n <= 3 and not any(f.source == "own" for f in group[1:]):
            for f, role in zip(group, roles, strict=False):
                f.role = role


def _freeze(doc: Doc, f: _Field) -> FieldInfo:
    texts = [f.own, *f.near[:3], f.row, f.after, f.placeholder, f.el.get("title") or ""]
    hints = value_hints(
        f.role,
        [norm(t) for t in texts if t],
        norm(f.placeholder),
        f.maxlength,
        f.el.get("pattern") or "",
        f.type,
        f.el.get("class") or "",
    )
    label_selector = None
    if f.label_el is not None and f.type in ("checkbox", "radio"):
        label_selector = doc.selector(f.label_el)
    return FieldInfo(
        name=f.name,
        role=f.role,
        selector=doc.selector(f.el),
        tag=f.tag,
        type=f.type,
        label=f.label,
        required=f.required,
        options=f.options,
        part=f.part_index,
        group_size=f.group_size,
        hints=hints,
        maxlength=f.maxlength,
        visible=f.visible,
        label_selector=label_selector,
    )
