"""Browser end-to-end fixtures: the fixture sites served in-process for the whole session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fixtures.server import FixtureServer


@pytest.fixture(scope="session")
def qa_server() -> Iterator[FixtureServer]:
    """The fixture corpus on a free loopback port; tests read what the sites received."""
    with FixtureServer(generated=0) as server:
        yield server
