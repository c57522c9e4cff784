"""``mikomi send`` end to end: the real command, real Chromium, the real fixture server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.server import FixtureServer
from shared.config import PROJECT_ROOT, Settings
from tests.support.listener import Listener
from worker.engine import Sender, SendResult

QA_SCRIPT = PROJECT_ROOT / "fixtures" / "scripts" / "qa.json"
SUMMARY_KEYS = {"status", "reason", "contact_url", "fields", "elapsed_ms"}

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fixture_server() -> Iterator[FixtureServer]:
    with FixtureServer(generated=0) as server:
        yield server


def mikomi_send(
    *args: str, allow_private: bool, timeout_ms: int = 15000
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {
        "MIKOMI_ALLOW_PRIVATE": "1" if allow_private else "0",
        "MIKOMI_PAGE_TIMEOUT_MS": str(timeout_ms),
        "MIKOMI_SEND_TIMEOUT_S": "60",
    }
    return subprocess.run(
        [sys.executable, "-m", "mikomi.cli", "send", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
        timeout=120,
    )


def _summary(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # exactly one JSON object on stdout
    document = json.loads(lines[0])
    assert set(document) == SUMMARY_KEYS
    return document


def test_send_delivers_and_reports_the_json_contract(fixture_server: FixtureServer) -> None:
    fixture_server.clear()
    proc = mikomi_send(
        fixture_server.url_for("cf7-confirm-step"), "--script", str(QA_SCRIPT),
        "--company", "株式会社テスト", "--json", allow_private=True,
    )  # fmt: skip
    summary = _summary(proc)
    assert summary["status"] == "sent" and summary["reason"] is None
    assert str(summary["contact_url"]).startswith("http://cf7-confirm-step.localhost:")
    assert isinstance(summary["elapsed_ms"], int)
    fields = summary["fields"]
    assert isinstance(fields, list) and fields
    assert all(set(f) == {"name", "role", "value"} for f in fields)
    received = fixture_server.submissions("cf7-confirm-step")
    assert len(received) == 1
    message = next(f for f in fields if f["role"] == "message")
    body = received[0]["fields"][message["name"]].replace("\r\n", "\n")
    assert "株式会社テスト" in body and "/optout/" in body


def test_dry_run_submits_nothing(fixture_server: FixtureServer, tmp_path: Path) -> None:
    fixture_server.clear()
    proc = mikomi_send(
        fixture_server.url_for("plain-confirm"), "--script", str(QA_SCRIPT), "--dry-run",
        "--json", "--evidence-dir", str(tmp_path), allow_private=True,
    )  # fmt: skip
    summary = _summary(proc)
    assert summary["status"] == "dry_run"
    assert summary["fields"]
    assert fixture_server.submissions("plain-confirm") == []
    evidence = json.loads((tmp_path / "evidence.json").read_text(encoding="utf-8"))
    assert (tmp_path / "filled.jpg").stat().st_size > 0
    assert evidence["outcome"]["submitted"] is False


@pytest.mark.timeout(120)
def test_host_that_never_answers_times_out(fixture_server: FixtureServer) -> None:
    proc = mikomi_send(
        fixture_server.url_for("hang-forever"), "--script", str(QA_SCRIPT), "--json",
        allow_private=True, timeout_ms=2000,
    )  # fmt: skip
    summary = _summary(proc)
    assert (summary["status"], summary["reason"]) == ("failed", "timeout")
    assert summary["contact_url"] is None


@pytest.mark.parametrize("host", ["127.0.0.1", "shop.localhost"])
def test_private_address_is_refused_without_connecting(
    host: str, listen: Callable[..., Listener]
) -> None:
    listener = listen()
    proc = mikomi_send(
        f"http://{host}:{listener.port}/", "--script", str(QA_SCRIPT), "--json",
        allow_private=False,
    )  # fmt: skip
    summary = _summary(proc)
    assert (summary["status"], summary["reason"]) == ("skipped", "blocked_address")
    assert listener.connections == 0


def test_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "body": "{{unknown}}"}', encoding="utf-8")
    for args in (
        ["http://example.invalid/", "--script", str(bad), "--json"],
        ["http://example.invalid/", "--script", str(tmp_path / "missing.json")],
        ["not-a-url", "--script", str(QA_SCRIPT)],
    ):
        proc = mikomi_send(*args, allow_private=False)
        assert proc.returncode != 0, args
        assert proc.stdout == ""


def _send_with_before_submit(
    server: FixtureServer, site: str, answer: bool
) -> tuple[list[int], SendResult]:
    """Send to ``site`` with a before_submit that records what the site had received."""
    server.clear()
    script = json.loads(QA_SCRIPT.read_text(encoding="utf-8"))
    calls: list[int] = []

    def before_submit() -> bool:
        calls.append(len(server.submissions(site)))
        return answer

    with Sender(Settings(allow_private=True)) as sender:
        result = sender.send(
            server.url_for(site), script, "株式会社テスト", "http://127.0.0.1:8000/optout/x",
            before_submit=before_submit,
        )  # fmt: skip
    return calls, result


def test_before_submit_refusal_sends_nothing(fixture_server: FixtureServer) -> None:
    calls, result = _send_with_before_submit(fixture_server, "cf7-basic", False)
    assert calls == [0]
    assert result.status == "cancelled" and not result.submitted
    assert fixture_server.submissions("cf7-basic") == []


def test_before_submit_is_called_once_before_a_confirm_flow(fixture_server: FixtureServer) -> None:
    calls, result = _send_with_before_submit(fixture_server, "mwwpform-confirm", True)
    assert calls == [0]
    assert result.status == "sent" and result.submitted
    assert len(fixture_server.submissions("mwwpform-confirm")) == 1
    assert [s["kind"] for s in result.evidence["page_states"]][-1] == "success"


@pytest.mark.parametrize("site", ["wizard-steps", "overlay-modal-confirm"])
def test_wizard_steps_and_overlays_come_before_the_point_of_no_return(
    fixture_server: FixtureServer, site: str
) -> None:
    # The 次へ of a JS wizard shows the next step and sends nothing, so the whole form is filled
    # before before_submit; an overlay's 送信 comes after it, once.
    calls, result = _send_with_before_submit(fixture_server, site, True)
    assert calls == [0]
    assert result.status == "sent"
    (received,) = fixture_server.submissions(site)
    assert "株式会社テスト" in received["fields"]["message"]


def test_the_address_a_postal_lookup_rewrote_is_typed_again(fixture_server: FixtureServer) -> None:
    # ajaxzip3 replaces 住所 with 市区町村+町域 a moment after the postal code changes: what the
    # site receives is still the whole address, street number and building included.
    calls, result = _send_with_before_submit(fixture_server, "postal-ajaxzip3", True)
    assert result.status == "sent"
    (received,) = fixture_server.submissions("postal-ajaxzip3")
    assert received["fields"]["addr"] == "千代田区千代田1-1 サンプルビル5F"
    assert received["fields"]["pref"] == "東京都"
