"""Fixtures of the worker's browser tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.listener import Listener


@pytest.fixture
def listen() -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def _listen(host: str = "127.0.0.1") -> Listener:
        listener = Listener(host)
        made.append(listener)
        return listener

    yield _listen
    for listener in made:
        listener.close()
