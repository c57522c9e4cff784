"""Fill plans: the exact values of fixtures/CONVENTIONS.md, variants, and what is never touched."""

from __future__ import annotations

from typing import Any

from formfill import FillVariant, build_fill_plan, render_message
from tests.support.formfill_pages import contact_form, page

OPTOUT = "https://mikomi.example/optout/tok123"


def plan_values(
    html: str, script: dict[str, Any], variant: FillVariant = FillVariant()
) -> dict[str, str]:
    form = contact_form(html)
    message = render_message(script, "株式会社テスト商事", OPTOUT)
    plan = build_fill_plan(form, script, message, variant)
    values: dict[str, str] = {}
    for action in plan.actions:
        key = action.name
        values[key] = values[key] + "," + action.value if key in values else action.value
    return values


def test_cf7_values(qa_script: dict[str, Any]) -> None:
    v = plan_values(page("cf7.html"), qa_script)
    assert v["your-company"] == "株式会社サンプル"
    assert v["your-department"] == "営業部"
    assert v["your-name"] == "山田 太郎"
    assert v["your-kana"] == "ヤマダ タロウ"
    assert v["your-email"] == "taro@example.co.jp"
    assert v["your-tel"] == "03-1234-5678"
    assert v["your-type"] == "その他"
    assert v["your-subject"] == "業務効率化のご提案"
    assert "株式会社テスト商事" in v["your-message"] and OPTOUT in v["your-message"]
    assert "株式会社サンプルの山田 太郎と申します" in v["your-message"]
    assert v["acceptance"] == "1"


def test_mw_wp_form_values(qa_script: dict[str, Any]) -> None:
    form = contact_form(page("mw_wp_form.html"))
    plan = build_fill_plan(form, qa_script, render_message(qa_script, "X社", OPTOUT))
    v = {a.name + ("" if a.op != "check" else "#" + a.value): a.value for a in plan.actions}
    assert v["company_furigana"] == "かぶしきがいしゃさんぷる"
    assert (v["name_sei"], v["name_mei"]) == ("山田", "太郎")
    assert (v["kana_sei"], v["kana_mei"]) == ("やまだ", "たろう")
    assert v["email_check"] == "taro@example.co.jp"
    assert (v["zip[data][0]"], v["zip[data][1]"]) == ("100", "0001")
    assert [v[f"tel[data][{i}]"] for i in range(3)] == ["03", "1234", "5678"]
    assert v["pref"] == "東京都"
    assert (v["city"], v["address1"], v["building"]) == ("千代田区", "千代田1-1", "サンプルビル5F")
    assert v["homepage"] == "https://example.co.jp"
    assert "fax" not in v  # the script has no fax
    assert v["item[data][]#ご提案"] == "ご提案"  # その他 is absent: the next preference
    assert v["privacy[data][]#同意する"] == "同意する"
    ops = {a.name: a.op for a in plan.actions}
    assert ops["pref"] == "select" and ops["privacy[data][]"] == "check"
    assert plan.submit_selector is not None
    assert [fv.role for fv in plan.field_map][:2] == ["company", "company_kana"]


def test_address_rules(qa_script: dict[str, Any]) -> None:
    base = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    only_address = f"<form><p>住所<input name=a></p>{base}</form>"
    assert plan_values(only_address, qa_script)["a"] == "東京都千代田区千代田1-1 サンプルビル5F"
    with_pref = f"<form><p>都道府県<input name=p></p><p>住所<input name=a></p>{base}</form>"
    v = plan_values(with_pref, qa_script)
    assert v["p"] == "東京都" and v["a"] == "千代田区千代田1-1 サンプルビル5F"
    with_city = f"<form><p>都道府県<input name=p></p><p>市区町村<input name=c></p><p>住所<input name=a></p><p>建物名<input name=b></p>{base}</form>"
    v = plan_values(with_city, qa_script)
    assert (v["c"], v["a"], v["b"]) == ("千代田区", "千代田1-1", "サンプルビル5F")


def test_phone_and_postal_formats(qa_script: dict[str, Any]) -> None:
    tail = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    html = f"""<form><p>電話番号（ハイフンなし）<input name=a></p><p>携帯電話<input name=b maxlength=11></p>
    <p>電話<input name=c pattern="[0-9]*"></p><p>電話番号（全角）<input name=d></p><p>TEL<input name=e></p>
    <p>郵便番号<input name=z maxlength=7></p><p>〒<input name=z2></p>{tail}</form>"""
    v = plan_values(html, qa_script)
    assert (v["a"], v["b"], v["c"]) == ("0312345678",) * 3
    assert v["d"] == "０３－１２３４－５６７８"
    assert v["e"] == "03-1234-5678"
    assert (v["z"], v["z2"]) == ("1000001", "100-0001")


def test_variants_for_the_corrective_retry(qa_script: dict[str, Any]) -> None:
    html = """<form><p>お名前<input name=n></p><p>フリガナ<input name=k></p><p>電話<input name=p></p>
    <p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button></form>"""
    v = plan_values(html, qa_script, FillVariant(phone_no_hyphen=True, kana_script="hiragana"))
    assert v["p"] == "0312345678" and v["k"] == "やまだ たろう"
    v = plan_values(html, qa_script, FillVariant(zenkaku=True))
    assert v["n"] == "山田\u3000太郎" and v["p"] == "０３－１２３４－５６７８"


def test_honeypot_captcha_never_filled(qa_script: dict[str, Any]) -> None:
    v = plan_values(page("formrun.html"), qa_script)
    assert "_formrun_gotcha" not in v
    assert v["個人情報利用同意"] == "on"
    v = plan_values(page("traps.html"), qa_script)
    assert "website" not in v
    assert v["agree"] == "yes"
    assert v["zen_name"] == "山田\u3000太郎"
    assert (v["x1"], v["x2"]) == ("太郎", "山田")


def test_inquiry_type_choices(qa_script: dict[str, Any]) -> None:
    tail = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    pref = f"<form><p>種別<select name=s><option value=''>選択してください</option><option>ご提案</option><option>その他</option></select></p>{tail}</form>"
    assert plan_values(pref, qa_script)["s"] == "その他"
    closest = f"<form><p>種別<select name=s><option>選択してください</option><option value=1>製品について</option><option value=2>協業・パートナーのご相談</option></select></p>{tail}</form>"
    assert plan_values(closest, qa_script)["s"] == "2"
    first = f"<form><p>種別<select name=s required><option value=''>---</option><option value=x>資料A</option><option value=y>資料B</option></select></p>{tail}</form>"
    assert plan_values(first, qa_script)["s"] == "x"
    radio = f"<form><p>ご用件</p><label><input type=radio name=r value=a>見積もり</label><label><input type=radio name=r value=b>その他のお問い合わせ</label>{tail}</form>"
    assert plan_values(radio, qa_script)["r"] == "b"
    snow = plan_values(page("snow_monkey.html"), qa_script)
    assert snow["youken"] == "ご提案・営業"


def test_required_unknown_fields_get_a_value(qa_script: dict[str, Any]) -> None:
    v = plan_values(page("opaque_dl.html"), qa_script)
    assert v["item9"] == "a"  # required select of unknown role: first real option
    assert v["item7"] == "0312345678"
    assert v["item4"] == "ヤマダ タロウ"


def test_pseudo_form_and_english(qa_script: dict[str, Any]) -> None:
    v = plan_values(page("hubspot_div.html"), qa_script)
    assert (v["firstname"], v["lastname"]) == ("太郎", "山田")
    v = plan_values(page("english.html"), qa_script)
    assert v["terms"] == "on" and v["e2"] == "taro@example.co.jp" and v["jt"] == "部長"


def test_placeholder_options_are_skipped_but_not_real_ones(qa_script: dict[str, Any]) -> None:
    tail = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    html = f"""<form><p>種別<select name=s required><option value="-">▼お選びください</option>
    <option value="a">製品A</option><option value="z">その他（選択肢にない場合）</option></select></p>{tail}</form>"""
    assert plan_values(html, qa_script)["s"] == "z"


def test_shi_and_mei_split(qa_script: dict[str, Any]) -> None:
    tail = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    html = f"<form><p>氏<input name=a></p><p>名<input name=b></p>{tail}</form>"
    v = plan_values(html, qa_script)
    assert (v["a"], v["b"]) == ("山田", "太郎")


def test_digit_count_notes_mean_no_hyphen(qa_script: dict[str, Any]) -> None:
    tail = "<p>メール<input type=email name=m></p><p>内容<textarea name=t></textarea></p><button>送信</button>"
    html = f"<form><p>郵便番号（半角数字7桁）<input name=z></p><p>電話番号（半角数字10～11桁）<input name=p></p><p>電話番号（ハイフンあり）<input name=p2></p>{tail}</form>"
    v = plan_values(html, qa_script)
    assert (v["z"], v["p"], v["p2"]) == ("1000001", "0312345678", "03-1234-5678")
