"""Widget forms: choices built from div role=radio|checkbox|option that feed hidden inputs."""

from __future__ import annotations

from formfill import build_fill_plan, classify_forms, render_message

SCRIPT = {
    "sender": {"company": "株式会社サンプル", "name": "山田 太郎", "email": "taro@example.co.jp"},
    "subject": "ご提案",
    "body": "{{company}} 様 {{optout_url}}",
    "inquiry_type_preference": ["その他"],
}

GOOGLE_FORMS_STYLE = """
<form id="f" action="/formResponse" method="post">
<div><span id="q1">お名前 *</span><input name="entry.1" aria-labelledby="q1" aria-required="true"></div>
<div><span id="q2">メールアドレス *</span><input name="entry.2" type="email" aria-labelledby="q2"></div>
<div><span id="q3">お問い合わせの種類 *</span>
 <div role="radiogroup" aria-labelledby="q3" aria-required="true">
  <div role="radio" data-value="製品について" aria-checked="false">製品について</div>
  <div role="radio" data-value="その他" aria-checked="false">その他</div></div>
 <input type="hidden" name="entry.3"></div>
<div><span id="q4">ご希望の連絡方法 *</span>
 <div role="listbox" aria-labelledby="q4" aria-required="true">
  <div role="option" data-value="" aria-selected="true">選択</div>
  <div role="option" data-value="メール" style="display:none">メール</div></div>
 <input type="hidden" name="entry.4"></div>
<div><span id="q5">お問い合わせ内容</span><textarea name="entry.5" aria-labelledby="q5"></textarea></div>
<div role="list"><div role="checkbox" aria-checked="false" aria-label="個人情報の取り扱いに同意する"
 data-answer-value="同意する"></div></div><input type="hidden" name="entry.6">
<div role="button" tabindex="0"><span>送信</span></div></form>
"""


def test_widget_groups_are_fields_named_by_their_hidden_inputs() -> None:
    (form,) = classify_forms(GOOGLE_FORMS_STYLE, "https://docs.example/forms/x")
    assert form.kind == "contact"
    by_name = {f.name: f for f in form.fields}
    kind = by_name["entry.3"]
    assert (kind.role, kind.type, kind.label, kind.required) == (
        "inquiry_type", "radio", "お問い合わせの種類 *", True
    )  # fmt: skip
    assert [o.value for o in kind.options] == ["製品について", "その他"]
    assert [o.value for o in by_name["entry.4"].options] == ["", "メール"]
    assert by_name["entry.6"].role == "consent"
    assert form.submit_selector is not None


def test_widget_plan_clicks_the_chosen_option_and_never_the_placeholder() -> None:
    (form,) = classify_forms(GOOGLE_FORMS_STYLE, "https://docs.example/forms/x")
    plan = build_fill_plan(form, SCRIPT, render_message(SCRIPT, "A社", "https://o/optout/1"))
    checks = {a.name: a.value for a in plan.actions if a.op == "check"}
    assert checks == {"entry.3": "その他", "entry.4": "メール", "entry.6": "同意する"}
