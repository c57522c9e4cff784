"""Talking to one fixture site by its host name (the ``site_client`` fixture,
tests/fixtures/conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from fixtures.server import FixtureServer


class SiteClient:
    """httpx against 127.0.0.1 with the site's Host header: Python's resolver, unlike
    Chromium's, may not map *.localhost to loopback."""

    def __init__(self, client: httpx.Client, server: FixtureServer, host: str) -> None:
        self.host = f"{host}.localhost:{server.port}"
        self.client = client

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path, headers={"Host": self.host})

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.client.post(path, data=data, headers={"Host": self.host})


MakeClient = Callable[[str], SiteClient]
