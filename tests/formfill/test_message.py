"""Script rendering and validation (docs/rules.md#scripts)."""

from __future__ import annotations

from typing import Any

import pytest

from formfill import find_placeholders, render_message, validate_script


def test_render(qa_script: dict[str, Any]) -> None:
    msg = render_message(qa_script, "株式会社テスト商事", "https://x/optout/abc")
    assert msg.subject == "業務効率化のご提案"
    assert msg.body.startswith("株式会社テスト商事\nご担当者様")
    assert "株式会社サンプルの山田 太郎と申します" in msg.body
    assert msg.body.endswith("https://x/optout/abc")
    assert "{{" not in msg.body


def test_optout_link_is_always_present(qa_script: dict[str, Any]) -> None:
    script = dict(qa_script, body="{{company}} 様 ご提案です")
    assert "https://x/o/1" in render_message(script, "A社", "https://x/o/1").body


def test_validate(qa_script: dict[str, Any]) -> None:
    assert validate_script(qa_script) == []
    bad = dict(qa_script, body="{{company}} {{unknown}}", sender={"company": ""})
    errors = validate_script(bad)
    assert any("{{unknown}}" in e for e in errors)
    assert any("会社名" in e for e in errors)
    assert any("メールアドレス" in e for e in errors)
    assert validate_script({})  # no sender, no body


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "hostile",
    ["{{" + " " * 20_000, "{{" + " " * 20_000 + "}", "{{ a " * 5_000, "{" * 40_000 + " }" * 3],
)
def test_hostile_bodies_do_not_hold_the_process(qa_script: dict[str, Any], hostile: str) -> None:
    # The old pattern backtracked cubically on "{{" and spaces: minutes for one save.
    script = dict(qa_script, body=hostile)
    assert "配信停止" in render_message(script, "A社", "https://x/o/1").body
    validate_script(script)
    assert find_placeholders(hostile) == []


def test_placeholders_allow_spaces_inside_the_braces() -> None:
    assert find_placeholders("{{ company }}様 {{optout_url}}") == [
        ("{{ company }}", "company"),
        ("{{optout_url}}", "optout_url"),
    ]
