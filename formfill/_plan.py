"""Fill plans: which value goes into which field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from formfill._types import FillPlan, FillVariant, FormInfo, RenderedMessage


def build_fill_plan(
    form: FormInfo,
    script: Mapping[str, Any],
    message: RenderedMessage,
    variant: FillVariant = FillVariant(),
) -> FillPlan:
    """The actions that fill ``form`` (first implementation: submit only)."""
    return FillPlan(actions=(), submit_selector=form.submit_selector, field_map=())
