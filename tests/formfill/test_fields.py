"""Field roles on static pages: every role, every layout, the traps."""

from __future__ import annotations

import pytest

from formfill import classify_forms
from formfill._dom import style_rules
from tests.support.formfill_pages import contact_form, page, roles


def test_cf7_labels_wrapping_inputs() -> None:
    form = contact_form(page("cf7.html"))
    assert roles(form) == {
        "your-company": "company",
        "your-department": "department",
        "your-name": "name",
        "your-kana": "name_kana",
        "your-email": "email",
        "your-tel": "phone",
        "your-type": "inquiry_type",
        "your-subject": "subject",
        "your-message": "message",
        "acceptance": "consent",
    }
    by_name = {f.name: f for f in form.fields}
    assert by_name["your-company"].required
    assert not by_name["your-department"].required
    assert by_name["your-type"].options[0].text == "選択してください"
    assert form.submit_selector == 'input[type="submit"]' or form.submit_selector
    assert "katakana" in by_name["your-kana"].hints


def test_mw_wp_form_dl_layout_split_fields() -> None:
    form = contact_form(page("mw_wp_form.html"))
    r = roles(form)
    assert r["company"] == "company"
    assert r["company_furigana"] == "company_kana"
    assert (r["name_sei"], r["name_mei"]) == ("last_name", "first_name")
    assert (r["kana_sei"], r["kana_mei"]) == ("last_name_kana", "first_name_kana")
    assert r["email_check"] == "email_confirm"
    assert r["zip[data][0]"] == r["zip[data][1]"] == "postal_code_part"
    assert [r[f"tel[data][{i}]"] for i in range(3)] == ["phone_part"] * 3
    assert r["pref"] == "prefecture"
    assert (r["city"], r["address1"], r["building"]) == ("city", "address", "building")
    assert r["fax"] == "fax"
    assert r["homepage"] == "url"
    assert r["item[data][]"] == "inquiry_type"
    assert r["inquiry"] == "message"
    assert r["privacy[data][]"] == "consent"
    by_name = {f.name: f for f in form.fields}
    assert (by_name["tel[data][2]"].part, by_name["tel[data][2]"].group_size) == (2, 3)
    assert (by_name["zip[data][0]"].part, by_name["zip[data][0]"].group_size) == (0, 2)
    assert "hiragana" in by_name["kana_sei"].hints
    assert "hiragana" in by_name["company_furigana"].hints
    assert by_name["name_sei"].required


def test_snow_monkey_forms() -> None:
    form = contact_form(page("snow_monkey.html"))
    assert roles(form) == {
        "fullname": "name",
        "email": "email",
        "youken": "inquiry_type",
        "message": "message",
    }


def test_mailform_pro_japanese_names() -> None:
    form = contact_form(page("mailformpro.html"))
    r = roles(form)
    assert r == {
        "会社名": "company",
        "お名前": "name",
        "フリガナ": "name_kana",
        "メールアドレス": "email",
        "メールアドレス(確認用)": "email_confirm",
        "電話番号": "phone",
        "郵便番号": "postal_code",
        "都道府県": "prefecture",
        "住所": "address",
        "お問い合わせ内容": "message",
    }
    by_name = {f.name: f for f in form.fields}
    assert "zenkaku" in by_name["お名前"].hints
    assert "hankaku" in by_name["電話番号"].hints


def test_formrun_honeypot_is_not_a_visible_field() -> None:
    form = contact_form(page("formrun.html"))
    gotcha = next(f for f in form.fields if f.name == "_formrun_gotcha")
    assert gotcha.role == "honeypot"
    assert not gotcha.visible
    assert roles(form)["個人情報利用同意"] == "consent"


def test_hubspot_style_div_form_is_a_pseudo_form() -> None:
    forms = classify_forms(page("hubspot_div.html"), "https://example.com/contact")
    assert [(f.index, f.kind) for f in forms] == [(-1, "contact")]
    form = forms[0]
    assert roles(form) == {
        "company": "company",
        "firstname": "first_name",
        "lastname": "last_name",
        "email": "email",
        "message": "message",
    }
    assert form.submit_selector is not None


def test_english_form() -> None:
    form = contact_form(page("english.html"))
    assert roles(form) == {
        "org": "company",
        "jt": "position",
        "n": "name",
        "e": "email",
        "e2": "email_confirm",
        "p": "phone",
        "w": "url",
        "s2": "subject",
        "m": "message",
        "terms": "consent",
    }
    assert form.submit_selector == "html > body > form > button" or form.submit_selector


def test_opaque_names_with_japanese_labels_in_dl() -> None:
    form = contact_form(page("opaque_dl.html"))
    r = roles(form)
    assert r == {
        "item1": "company",
        "item2": "department",
        "item3": "position",
        "item4": "name_kana",
        "item5": "name",
        "item6": "email",
        "item7": "phone",
        "item8": "address_full",
        "item9": "other",
        "item10": "message",
    }
    by_name = {f.name: f for f in form.fields}
    assert "no_hyphen" in by_name["item7"].hints
    assert by_name["item1"].required and by_name["item9"].required


def test_placeholder_only_labels() -> None:
    form = contact_form(page("placeholder_only.html"))
    assert roles(form) == {
        "f1": "company",
        "f2": "name",
        "f3": "name_kana",
        "f4": "email",
        "f5": "phone",
        "f6": "postal_code",
        "f7": "message",
    }
    assert "hiragana" in {f.name: f for f in form.fields}["f3"].hints


def test_traps_na_inside_words_honeypot_custom_consent() -> None:
    forms = classify_forms(page("traps.html"), "https://example.jp/contact")
    assert [f.kind for f in forms] == ["contact", "newsletter"]
    form = forms[0]
    r = roles(form)
    # 名 inside 会社名 / 部署名 / お名前（フリガナ） is not the given name.
    assert r["c_name"] == "company"
    assert r["d_name"] == "department"
    assert r["n_kana"] == "name_kana"
    assert (r["x1"], r["x2"]) == ("first_name", "last_name")
    assert r["zen_name"] == "name"
    assert r["website"] == "honeypot"
    assert r["agree"] == "consent"
    by_name = {f.name: f for f in form.fields}
    assert "zenkaku" in by_name["zen_name"].hints
    agree = by_name["agree"]
    assert agree.visible  # the label shows it
    assert agree.label_selector is not None
    # The disabled 送信する button is still the submit button (it waits for consent); 戻る is not.
    assert form.submit_selector == "#send"


def test_table_layout_split_phone_and_name() -> None:
    html = """<form action="/c"><table>
    <tr><th>お名前</th><td>姓<input name="a"> 名<input name="b"></td></tr>
    <tr><th>フリガナ</th><td><input name="c" placeholder="ヤマダ"><input name="d" placeholder="タロウ"></td></tr>
    <tr><th>電話番号（ハイフンなし）</th><td><input name="t1" size="4">-<input name="t2">-<input name="t3"></td></tr>
    <tr><th>〒</th><td><input name="p1" maxlength="3">-<input name="p2" maxlength="4"></td></tr>
    <tr><th>メール</th><td><input name="m"></td></tr>
    <tr><th>内容</th><td><textarea name="x"></textarea></td></tr></table>
    <input type="submit" value="送信"></form>"""
    form = contact_form(html)
    assert roles(form) == {
        "a": "last_name",
        "b": "first_name",
        "c": "last_name_kana",
        "d": "first_name_kana",
        "t1": "phone_part",
        "t2": "phone_part",
        "t3": "phone_part",
        "p1": "postal_code_part",
        "p2": "postal_code_part",
        "m": "email",
        "x": "message",
    }


def test_every_remaining_role_from_labels() -> None:
    html = """<form action="/c">
    <div><label for="a">会社名（カナ）</label><input id="a" name="a"></div>
    <div><label for="b">市区町村</label><input id="b" name="b"></div>
    <div><label for="c">番地</label><input id="c" name="c"></div>
    <div><label for="d">建物名・部屋番号</label><input id="d" name="d"></div>
    <div><label for="e">都道府県</label><input id="e" name="e"></div>
    <div><label for="f">FAX</label><input id="f" name="f"></div>
    <div><label for="g">画像認証</label><img src="/captcha.php"><input id="g" name="g"></div>
    <div><label for="h">URL</label><input id="h" name="h"></div>
    <div><label for="i">題名</label><input id="i" name="i"></div>
    <div><label for="j">メール</label><input id="j" name="j" type="email"></div>
    <div><label for="k">内容</label><textarea id="k" name="k"></textarea></div>
    <div><label for="l">性別</label><select id="l" name="l"><option>男性</option><option>女性</option></select></div>
    <button>送信</button></form>"""
    form = contact_form(html)
    assert roles(form) == {
        "a": "company_kana",
        "b": "city",
        "c": "address",
        "d": "building",
        "e": "prefecture",
        "f": "fax",
        "g": "captcha",
        "h": "url",
        "i": "subject",
        "j": "email",
        "k": "message",
        "l": "other",
    }
    assert form.has_captcha


def test_prefecture_select_with_47_options_and_optgroups() -> None:
    from formfill._fields import PREFECTURES

    groups = "".join(
        f'<optgroup label="g{i}">'
        + "".join(f"<option>{p}</option>" for p in PREFECTURES[i : i + 10])
        + "</optgroup>"
        for i in range(0, 47, 10)
    )
    html = f"""<form><p>ご住所</p><select name="s1"><option value="">--</option>{groups}</select>
    <p>メール</p><input type="email" name="m"><p>お問い合わせ</p><textarea name="t"></textarea><button>送信</button></form>"""
    form = contact_form(html)
    assert roles(form)["s1"] == "prefecture"
    assert len(form.fields[0].options) == 48


def test_aria_labels_and_autocomplete() -> None:
    html = """<form><span id="lbl">貴社名</span><input name="q1" aria-labelledby="lbl">
    <input name="q2" aria-label="ご担当者名"><input name="q3" autocomplete="email">
    <input name="q4" autocomplete="family-name"><input name="q5" autocomplete="given-name">
    <textarea name="q6" aria-label="ご相談内容"></textarea><button type="submit">送信</button></form>"""
    form = contact_form(html)
    assert roles(form) == {
        "q1": "company",
        "q2": "name",
        "q3": "email",
        "q4": "last_name",
        "q5": "first_name",
        "q6": "message",
    }


def test_hidden_inputs_and_honeypots_by_style() -> None:
    html = """<html><head><style>.hp-wrap { display: none; }</style></head><body><form>
    <p>お名前<input name="n"></p><p>メール<input name="m" type="email"></p>
    <div class="hp-wrap"><input name="fax_number"></div>
    <input name="url2" style="position:absolute; left:-9999px">
    <input name="bot-field">
    <input type="hidden" name="token" value="x">
    <p>内容<textarea name="t"></textarea></p><button>送信</button></form></body></html>"""
    form = contact_form(html)
    r = roles(form)
    assert r["fax_number"] == r["url2"] == r["bot-field"] == "honeypot"
    assert "token" not in r


@pytest.mark.timeout(20)
def test_a_huge_style_without_braces_is_read_in_linear_time() -> None:
    # The old rule pattern retried every start of a brace-less run: 6.5 s for 40 KB.
    junk = "a" * 3_000_000
    html = f"""<html><head><style>{junk}</style><style>{junk} .hp {{ display:none }}</style>
    </head><body><form><p>お名前<input name="n"></p><div class="hp"><input name="trap"></div>
    <p>内容<textarea name="t"></textarea></p><button>送信</button></form></body></html>"""
    assert roles(contact_form(html))["trap"] == "honeypot"
    assert style_rules(junk) == []
    assert style_rules("@media print { a { display: none } } .x{}") == [
        (" a ", " display: none "),
        (" .x", ""),
    ]


def test_driver_annotations_decide_visibility_and_selectors() -> None:
    html = """<form data-mk="1"><label data-mk="2">お名前<input data-mk="3" name="n"></label>
    <input data-mk="4" data-mk-hidden="1" name="extra">
    <label data-mk="5">メール<input data-mk="6" name="m" type="email"></label>
    <label data-mk="7">内容<textarea data-mk="8" name="t"></textarea></label>
    <button data-mk="9">送信</button></form>"""
    form = contact_form(html)
    by_name = {f.name: f for f in form.fields}
    assert by_name["n"].selector == '[data-mk="3"]'
    assert by_name["extra"].role == "honeypot" and not by_name["extra"].visible
    assert form.selector == '[data-mk="1"]'
    assert form.submit_selector == '[data-mk="9"]'
