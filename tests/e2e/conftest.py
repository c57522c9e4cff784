"""Browser end-to-end fixtures: the fixture sites served in-process for the whole session; the
UI walk's own browser and stack (tests/support/ui.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from fixtures.server import FixtureServer
from shared.config import get_settings
from tests.support.ui import CHROMIUM_ARGS, Stack


@pytest.fixture(scope="session")
def qa_server() -> Iterator[FixtureServer]:
    """The fixture corpus on a free loopback port; tests read what the sites received."""
    with FixtureServer(generated=0) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Our own browser, stopped at the end of the module: a Playwright left running for the
    session would keep an event loop in the main thread and break later sync-API tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=get_settings().effective_browser_path, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    try:
        yield made.start()
    finally:
        made.stop()
