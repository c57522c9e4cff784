"""Field-role rules learnt from real pages, one hand-written form per rule.

Each case is a contact form written here (never copied from anywhere) and the roles some of its
fields must get; the other fields only make the form a contact form.
"""

from __future__ import annotations

from typing import Any

import pytest

from formfill import build_fill_plan, classify_forms, render_message
from tests.support.formfill_pages import contact_form, roles

MESSAGE = '<p><label for="msg">Message</label><textarea id="msg" name="msg"></textarea></p>'
SEND = "<button type=submit>Send</button>"


def _form(body: str, head: str = "") -> str:
    return f"<html><head>{head}</head><body><form action='/send'>{body}{MESSAGE}{SEND}</form></body></html>"


CASES: list[tuple[str, str, str, dict[str, str]]] = [
    (
        "a recipient's address first, then the sender's: two e-mails, no confirmation",
        "",
        """<p>To <input name="recipient_email" placeholder="Separate multiple addresses with a comma"></p>
        <p>Your email address <input type="email" name="sender_email"></p>""",
        {"recipient_email": "email", "sender_email": "email"},
    ),
    (
        "the sender's address first, then the friends' (French row header)",
        "",
        """<p>Votre e-mail : <input name="mailFrom"></p>
        <table><tr><th>Vos destinataires</th><td>E-mail : <input name="mailTo"></td></tr></table>""",
        {"mailFrom": "email", "mailTo": "email"},
    ),
    (
        "a real confirmation box is still the confirmation",
        "",
        """<p>Email <input type="email" name="email"></p>
        <p>Email again <input type="email" name="email2"></p>""",
        {"email": "email", "email2": "email_confirm"},
    ),
    (
        "a subject in French: 「Objet du message」",
        "",
        """<p>Name <input name="n"></p><p>E-mail <input type="email" name="e"></p>
        <p>Objet du message <input name="s"></p>""",
        {"s": "subject"},
    ),
    (
        "a subject in Romanian: 「Subiectul」",
        "",
        """<p>Name <input name="n"></p><p>E-mail <input type="email" name="e"></p>
        <p>Subiectul <input name="s"></p>""",
        {"s": "subject"},
    ),
    (
        "a subject in Indonesian: 「Perihal」",
        "",
        """<p>Name <input name="n"></p><p>E-mail <input type="email" name="e"></p>
        <p>Perihal <input name="s"></p>""",
        {"s": "subject"},
    ),
    (
        "a subject in Greek: 「Θέμα」",
        "",
        """<p>Name <input name="n"></p><p>E-mail <input type="email" name="e"></p>
        <p>Θέμα <input name="s"></p>""",
        {"s": "subject"},
    ),
    (
        "a subject in Chinese: 「主旨」",
        "",
        """<p>Name <input name="n"></p><p>E-mail <input type="email" name="e"></p>
        <p>主旨 <input name="s"></p>""",
        {"s": "subject"},
    ),
    (
        "hidden numbered check boxes of one question (a conditional question) are no traps",
        "<style>.cond { display: none }</style>",
        """<p>Name <input name="input_1"></p><p>Email <input type="email" name="input_2"></p>
        <div class="cond"><p>Best time to call</p>
        <label><input type="checkbox" name="input_6.1" value="am"> Morning</label>
        <label><input type="checkbox" name="input_6.2" value="pm"> Afternoon</label></div>""",
        {"input_6.1": "other", "input_6.2": "other"},
    ),
    (
        "one hidden check box alone is still a trap",
        "<style>.cond { display: none }</style>",
        """<p>Name <input name="n"></p><p>Email <input type="email" name="e"></p>
        <div class="cond"><label><input type="checkbox" name="fax_me" value="1"> Fax me</label></div>""",
        {"fax_me": "honeypot"},
    ),
    (
        "a hidden box whose label is a picture question is a CAPTCHA, not a trap",
        "<style>.later { display: none }</style>",
        """<p>Jméno <input name="jmeno"></p><p>E-mail <input name="email"></p>
        <p class="later"><label for="uc">Napište číslo z obrázku</label><input id="uc" name="userconfirm"></p>""",
        {"userconfirm": "captcha"},
    ),
    (
        "a hidden box the markup requires waits for a script; an optional one is a trap",
        "<style>.later { display: none }</style>",
        """<p>Name <input name="name"></p><p>Email <input type="email" name="email"></p>
        <p class="later"><label for="pn">Policy number</label><input id="pn" name="policy" required></p>
        <p class="later"><label for="w">Website</label><input id="w" name="website"></p>""",
        {"policy": "other", "website": "honeypot"},
    ),
    (
        "a wordless box named like a trap is a trap; a class saying honey too",
        "",
        """<input name="field_hp"><input name="extra" class="tastyhoney">
        <p>Name <input name="name"></p><p>Email <input type="email" name="email"></p>""",
        {"field_hp": "honeypot", "extra": "honeypot"},
    ),
    (
        "a box labelled just 「Number」 is the phone; 「Number of guests」 is not",
        "",
        """<p>Name <input name="n"></p><p><label for="a">Number(required)</label><input id="a" name="a"></p>
        <p><label for="b">Number of guests</label><input id="b" name="b"></p>
        <p>Email <input type="email" name="e"></p>""",
        {"a": "phone", "b": "other"},
    ),
    (
        "one box for 「City/State」 is the city; 「State」 alone is the state",
        "",
        """<p>Name <input name="n"></p><p>Email <input type="email" name="e"></p>
        <p><label for="l">Location (City/State)</label><input id="l" name="loc"></p>
        <p><label for="s">State</label><input id="s" name="st"></p>""",
        {"loc": "city", "st": "prefecture"},
    ),
    (
        "joining a mailing list is no consent; an agreement box still is",
        "",
        """<p>Name <input name="n"></p><p>Email <input type="email" name="e"></p>
        <label><input type="checkbox" name="add_to_list"> Add me to the mailing list</label>
        <label><input type="checkbox" name="agree" required> I agree to the privacy policy</label>""",
        {"add_to_list": "other", "agree": "consent"},
    ),
]


@pytest.mark.parametrize(
    ("why", "head", "body", "expected"), CASES, ids=[case[0][:40] for case in CASES]
)
def test_field_rule(why: str, head: str, body: str, expected: dict[str, str]) -> None:
    got = roles(contact_form(_form(body, head)))
    assert {name: got.get(name) for name in expected} == expected, why


def test_hidden_questions_and_opt_ins_are_never_filled(qa_script: dict[str, Any]) -> None:
    # The rules above only relabel what the engine leaves alone: nothing hidden, no opt-in.
    html = _form(
        """<p>Name <input name="input_1"></p><p>Email <input type="email" name="input_2"></p>
        <div style="display:none"><p>Best time to call</p>
        <label><input type="checkbox" name="input_6.1" value="am"> Morning</label>
        <label><input type="checkbox" name="input_6.2" value="pm"> Afternoon</label>
        <label for="pn">Policy number</label><input id="pn" name="policy" required>
        <label for="uc">What is 3 + 4 =</label><input id="uc" name="sum"></div>
        <label><input type="checkbox" name="news"> Subscribe to our newsletter</label>"""
    )
    message = render_message(qa_script, "株式会社テスト商事", "https://mikomi.example/optout/t")
    plan = build_fill_plan(contact_form(html), qa_script, message)
    touched = {action.name for action in plan.actions}
    assert touched >= {"input_1", "input_2", "msg"}
    assert not touched & {"input_6.1", "input_6.2", "policy", "sum", "news"}


@pytest.mark.parametrize(
    ("box", "label"),
    [
        ('<input type="text" name="antispam" required>', "スパム対策 3＋4＝"),
        (
            '<input type="text" name="quiz-robot" class="wpcf7-quiz">',
            "確認：「さくら」をカタカナで",
        ),
        ('<input type="text" name="check">', "ロボットでないことの確認のため「いぬ」と入力"),
        ('<input type="text" name="q">', "Are you a robot? Type the word blue"),
    ],
)
def test_a_question_put_to_tell_people_from_bots_is_a_captcha(box: str, label: str) -> None:
    # The engine skips a form with a CAPTCHA; it sent two such forms with the answer empty.
    html = (
        "<html><body><form><label>お名前<input name='n'></label>"
        "<textarea name='m'></textarea><input name='mail' type='email'>"
        f"<label>{label}{box}</label><button>送信</button></form></body></html>"
    )
    [form] = classify_forms(html, "https://example.jp/contact/")
    assert form.has_captcha
    assert [f.role for f in form.fields if f.name not in ("n", "m", "mail")] == ["captcha"]
