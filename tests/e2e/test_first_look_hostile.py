"""The first look with the network guard on: the hostile-site corpus (fixtures/hostile/) through
the real engine with the first look off and on, through the guard's test network (127.0.0.1
counts as public, ``*.localhost`` resolves to it, ``intranet.hostile.test`` to the private
127.0.0.3). Every site ends the same both ways and as its expected.json says; the redirects to
private addresses are refused by the first look's own guard proxy, before any browser."""

from __future__ import annotations

import pytest

from fixtures.server import FixtureServer
from mikomi.commands.engine import SiteVerdict, run_corpus
from shared.config import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


def _run(server: FixtureServer, first_look: bool) -> dict[str, SiteVerdict]:
    server.clear()
    settings = Settings(
        allow_private=False,
        guard_test_public="127.0.0.1",
        guard_test_hosts="*.localhost=127.0.0.1,intranet.hostile.test=127.0.0.3",
        send_timeout_s=35,
        first_look=first_look,
    )
    verdicts = run_corpus(server, sites=server.hostile_sites, settings=settings)
    return {v.site: v for v in verdicts}


def test_hostile_sites_end_the_same_with_and_without_the_first_look(
    qa_server: FixtureServer,
) -> None:
    off, on = _run(qa_server, False), _run(qa_server, True)
    assert {s: v.got for s, v in on.items()} == {s: v.got for s, v in off.items()}
    assert [s for s, v in on.items() if not v.ok] == []
    ended = {s for s, v in on.items() if v.first_look}
    assert {"redirect-to-loopback", "redirect-to-metadata", "dns-private-name"} <= ended
    assert all(on[s].got == "skipped/blocked_address" for s in ended)
