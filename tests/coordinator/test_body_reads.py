"""Every request body a route reads itself is read without a database transaction open
(coordinator/database.py ``read_form``, ``read_body``, ``receiving_body``;
docs/operations.md, MIKOMI_DB_IDLE_IN_TRANSACTION_S). tests/e2e/test_slow_upload.py shows why
on a real server; this keeps a new route from reading a body the direct way."""

from __future__ import annotations

import re
from pathlib import Path

from shared.config import PROJECT_ROOT

DIRECT = re.compile(r"\brequest\.(form|body|json)\(\)")
ALLOWED = {Path("coordinator/database.py")}


def test_no_route_reads_a_body_inside_its_transaction() -> None:
    found = []
    for path in sorted((PROJECT_ROOT / "coordinator").rglob("*.py")):
        relative = path.relative_to(PROJECT_ROOT)
        if relative in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DIRECT.search(line):
                found.append(f"{relative}:{number}: {line.strip()}")
    assert not found, "read the body with coordinator.database.read_form/read_body:\n" + "\n".join(
        found
    )


def test_a_streamed_body_is_read_under_receiving_body() -> None:
    for path in sorted((PROJECT_ROOT / "coordinator").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "request.stream()" in text:
            assert "async with receiving_body(request)" in text, path
