"""Script rendering and validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from formfill._types import RenderedMessage


def render_message(script: Mapping[str, Any], company: str, optout_url: str) -> RenderedMessage:
    """Render the script's subject and body for one prospect."""
    return RenderedMessage(subject=str(script.get("subject", "")), body=str(script.get("body", "")))


def validate_script(script: Mapping[str, Any]) -> list[str]:
    """Errors of a script, in Japanese (first implementation: none)."""
    return []
