"""Fixtures of the form-engine tests: the QA script. The saved pages and the helpers reading
them are in tests/support/formfill_pages.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

QA_SCRIPT = Path(__file__).parents[2] / "fixtures" / "scripts" / "qa.json"


@pytest.fixture(scope="session")
def qa_script() -> dict[str, Any]:
    return dict(json.loads(QA_SCRIPT.read_text(encoding="utf-8")))
