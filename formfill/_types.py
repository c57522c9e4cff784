"""The value types of the form engine: snapshots in, decisions out.

Everything is a frozen dataclass so decisions can be cached, compared in tests and sent across
process boundaries (the worker records them as evidence) without defensive copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

FormKind = Literal[
    "contact",
    "comment",
    "search",
    "login",
    "registration",
    "password_reset",
    "newsletter",
    "order",
    "other",
]
FORM_KINDS: tuple[FormKind, ...] = get_args(FormKind)

Role = Literal[
    "company",
    "company_kana",
    "department",
    "position",
    "name",
    "last_name",
    "first_name",
    "name_kana",
    "last_name_kana",
    "first_name_kana",
    "email",
    "email_confirm",
    "phone",
    "phone_part",
    "fax",
    "postal_code",
    "postal_code_part",
    "prefecture",
    "city",
    "address",
    "building",
    "address_full",
    "url",
    "subject",
    "inquiry_type",
    "message",
    "consent",
    "honeypot",
    "captcha",
    "other",
]
ROLES: tuple[Role, ...] = get_args(Role)

ActionOp = Literal["fill", "select", "check", "uncheck", "click"]
KanaScript = Literal["katakana", "hiragana"]
PageKind = Literal[
    "form", "confirm", "success", "validation_error", "refused", "captcha", "error", "unknown"
]


@dataclass(frozen=True, slots=True)
class FrameSnapshot:
    """One frame's document: its URL, its serialized HTML and its index in the page's frame list.

    ``index`` is the position the driver uses to find the frame again (``page.frames[index]``
    minus the main frame, as the driver defines it); the engine only passes it back.
    """

    url: str
    html: str
    index: int


@dataclass(frozen=True, slots=True)
class PageSnapshot:
    """What the driver saw: the main document, its frames and the window title.

    The driver annotates ``a, area, form, input, select, textarea, button, label, iframe, img``
    with ``data-mk="<n>"`` and marks elements that are not rendered visibly with
    ``data-mk-hidden="1"`` before serializing; static files without those attributes work too.
    ``text`` is optional: the main document's rendered text (``document.body.innerText``).
    When given, notices (thanks, 営業お断り) are read from it, which is exact about what is
    shown even for text containers the driver does not annotate.
    """

    url: str
    html: str
    frames: tuple[FrameSnapshot, ...] = ()
    title: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class LinkCandidate:
    """A link that probably leads to the inquiry form; ``url`` is absolute."""

    url: str
    score: float
    text: str
    source: str  # "a", "area", "iframe" or "form_service"


@dataclass(frozen=True, slots=True)
class OptionInfo:
    """One choice of a select, radio group or checkbox group.

    ``selector`` is the option's own input for radio/checkbox groups, and the select's selector
    for ``<option>`` (the driver selects by ``value``).
    """

    value: str
    text: str
    selector: str = ""
    disabled: bool = False
    selected: bool = False


@dataclass(frozen=True, slots=True)
class FieldInfo:
    """One logical field of a form, classified into a role of docs/rules.md#form-filling (F1).

    Radio and checkbox groups sharing a ``name`` are one field whose ``options`` carry each
    input's selector. ``part``/``group_size`` describe split fields (姓/名, phone in three boxes,
    postal code 3+4). ``hints`` carry what the field demands of its value: "hiragana",
    "katakana", "no_hyphen", "zenkaku", "hankaku", "digits", "confirm".
    """

    name: str
    role: Role
    selector: str
    tag: str
    type: str
    label: str
    required: bool = False
    options: tuple[OptionInfo, ...] = ()
    part: int | None = None
    group_size: int | None = None
    hints: frozenset[str] = frozenset()
    maxlength: int | None = None
    visible: bool = True
    label_selector: str | None = None


@dataclass(frozen=True, slots=True)
class FormInfo:
    """One form (or a pseudo-form of inputs without a ``<form>``, ``index == -1``)."""

    index: int
    kind: FormKind
    score: float
    selector: str
    fields: tuple[FieldInfo, ...]
    submit_selector: str | None
    has_captcha: bool = False
    frame_index: int | None = None
    submit_text: str = ""  # the words on the submit button (次へ, 確認, 送信 …)
    submit_posts: bool = False  # pressing it submits the form without any script


@dataclass(frozen=True, slots=True)
class FormChoice:
    """The inquiry form chosen on a page: in the main document (``frame_index`` None) or a frame."""

    frame_index: int | None
    form: FormInfo


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """The script's subject and body with every placeholder replaced."""

    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class FillVariant:
    """How values are shaped; the default first, another one for the single corrective retry.

    ``kana_script`` None means "katakana unless the field asks for hiragana".
    """

    phone_no_hyphen: bool = False
    kana_script: KanaScript | None = None
    zenkaku: bool = False
    hankaku: bool = False
    postal_no_hyphen: bool = False


@dataclass(frozen=True, slots=True)
class FillAction:
    """One step for the driver.

    ``fill``: set the value (selector is the input/textarea). ``select``: choose the option
    whose ``value`` attribute equals ``value``. ``check``/``uncheck``: set ``checked`` on the
    input — the driver sets it via script and fires input/change/click events, so this works on
    custom-styled inputs hidden behind their label. ``click``: click the element (used for
    nothing the driver could do with ``check``; kept for label-only widgets).
    """

    selector: str
    op: ActionOp
    value: str
    role: Role
    name: str


@dataclass(frozen=True, slots=True)
class FieldValue:
    """Evidence: which field received which value."""

    name: str
    role: Role
    value: str


@dataclass(frozen=True, slots=True)
class FillPlan:
    """The ordered actions that fill a form, the button that submits it, and the evidence.

    ``settle_after``: after the first that many actions (the postal code), the page's scripts
    rewrite other fields (an ajaxzip3-style address lookup): let them finish before the rest.
    ``next_selector``: the form is a JS wizard whose later steps are still hidden; press this
    button (it shows the next step and sends nothing), then plan again. ``submit_selector`` is
    None while there is a next step.
    """

    actions: tuple[FillAction, ...]
    submit_selector: str | None
    field_map: tuple[FieldValue, ...]
    settle_after: int = 0
    next_selector: str | None = None


@dataclass(frozen=True, slots=True)
class PageState:
    """What a page says after an action.

    ``submit_selector`` is set for "confirm" (the 送信する button, never 戻る) and for "form".
    ``error_hints`` name the correction a validation error asks for ("phone_no_hyphen",
    "hiragana", "katakana", "zenkaku", "hankaku", "postal_no_hyphen").
    """

    kind: PageKind
    submit_selector: str | None = None
    messages: tuple[str, ...] = ()
    error_fields: tuple[str, ...] = ()
    error_hints: frozenset[str] = field(default_factory=frozenset)
    reason: str | None = None
