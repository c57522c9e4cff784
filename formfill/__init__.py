"""Mikomi's form engine: the decisions of an inquiry-form send as pure functions over snapshots.

The worker's browser driver takes a :class:`PageSnapshot` (annotated HTML, URL, frames) and asks
this package what to do: which link leads to the contact page (:func:`discover_contact_links`),
which form is the inquiry form (:func:`find_inquiry_form`), what to type where
(:func:`build_fill_plan`) and what the page said afterwards (:func:`classify_page`). Nothing
here touches the network, a browser or a database, so every decision is tested on static HTML.
"""

from formfill._fields import PREFECTURES
from formfill._first_look import (
    FirstLookVerdict,
    StaticPage,
    judge_contact_page,
    judge_top_page,
)
from formfill._forms import classify_forms, find_inquiry_form
from formfill._links import discover_contact_links
from formfill._message import PLACEHOLDERS, find_placeholders, render_message, validate_script
from formfill._notices import detect_captcha, detect_refusal
from formfill._page import classify_page, corrective_variant
from formfill._plan import build_fill_plan
from formfill._types import (
    FieldInfo,
    FieldValue,
    FillAction,
    FillPlan,
    FillVariant,
    FormChoice,
    FormInfo,
    FrameSnapshot,
    LinkCandidate,
    OptionInfo,
    PageSnapshot,
    PageState,
    RenderedMessage,
)

__all__ = [
    "PLACEHOLDERS",
    "PREFECTURES",
    "FieldInfo",
    "FieldValue",
    "FillAction",
    "FillPlan",
    "FillVariant",
    "FirstLookVerdict",
    "FormChoice",
    "FormInfo",
    "FrameSnapshot",
    "LinkCandidate",
    "OptionInfo",
    "PageSnapshot",
    "PageState",
    "RenderedMessage",
    "StaticPage",
    "build_fill_plan",
    "classify_forms",
    "classify_page",
    "corrective_variant",
    "detect_captcha",
    "detect_refusal",
    "discover_contact_links",
    "find_inquiry_form",
    "find_placeholders",
    "judge_contact_page",
    "judge_top_page",
    "render_message",
    "validate_script",
]
