"""The QA corpus (``mikomi qa``) under pytest: every fixture site through the real engine.

The whole corpus runs once per session (three browsers in parallel); each site is then its own
test, judged on the outcome and on the values the site actually received.
"""

from __future__ import annotations

import pytest

from fixtures.corpus import load_sites
from fixtures.server import FixtureServer
from mikomi.commands.engine import SiteVerdict, run_corpus
from shared.config import Settings

pytestmark = pytest.mark.e2e

SITES = [site.name for site in load_sites()]


@pytest.fixture(scope="module")
def verdicts(qa_server: FixtureServer) -> dict[str, SiteVerdict]:
    qa_server.clear()
    settings = Settings(allow_private=True, page_timeout_ms=5000)
    return {v.site: v for v in run_corpus(qa_server, settings=settings)}


@pytest.mark.parametrize("site", SITES)
def test_fixture_site(site: str, verdicts: dict[str, SiteVerdict]) -> None:
    verdict = verdicts[site]
    assert verdict.ok, (
        f"{site}: expected {verdict.expected}, got {verdict.got}; "
        f"wrong fields {verdict.wrong_fields}; {verdict.problems}"
    )


def test_no_false_sent_and_no_duplicates(verdicts: dict[str, SiteVerdict]) -> None:
    false_sent = [v.site for v in verdicts.values() if v.got == "sent" and v.expected != "sent"]
    duplicates = [v.site for v in verdicts.values() if v.submissions > 1]
    assert false_sent == [] and duplicates == []
