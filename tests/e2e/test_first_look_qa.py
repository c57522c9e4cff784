"""The first look changes no outcome (issue 18): the QA corpus runs through the real engine
with the first look off and on, and every fixture site ends the same way both times, with what
the sites received judged each time (no submission on a negative site, the right fields on the
others)."""

from __future__ import annotations

import pytest

from fixtures.server import FixtureServer
from mikomi.commands.engine import SiteVerdict, run_corpus
from shared.config import Settings

pytestmark = pytest.mark.e2e


def _run(server: FixtureServer, first_look: bool) -> dict[str, SiteVerdict]:
    server.clear()
    settings = Settings(allow_private=True, page_timeout_ms=5000, first_look=first_look)
    return {v.site: v for v in run_corpus(server, settings=settings)}


@pytest.fixture(scope="module")
def both(qa_server: FixtureServer) -> tuple[dict[str, SiteVerdict], dict[str, SiteVerdict]]:
    return _run(qa_server, False), _run(qa_server, True)


def test_every_site_ends_the_same_with_and_without_the_first_look(
    both: tuple[dict[str, SiteVerdict], dict[str, SiteVerdict]],
) -> None:
    off, on = both
    assert sorted(off) == sorted(on)
    assert {s: on[s].got for s in on} == {s: off[s].got for s in off}
    assert [s for s in on if not on[s].ok] == []
    assert not any(v.first_look for v in off.values())


def test_the_first_look_ends_only_negative_sites_and_some_of_each_kind(
    both: tuple[dict[str, SiteVerdict], dict[str, SiteVerdict]],
) -> None:
    _off, on = both
    ended = {s: v.got for s, v in on.items() if v.first_look}
    assert all(v.submissions == 0 and v.expected != "sent" for s, v in on.items() if v.first_look)
    kinds = set(ended.values())
    assert {"skipped/captcha", "skipped/refused_sales", "failed/no_contact_page"} <= kinds
    # The sites whose static HTML is ambiguous (scripts, frames) went to the browser.
    assert not on["widget-spa-chips"].first_look and not on["iframe-tayori"].first_look
