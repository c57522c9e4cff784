"""Field roles in the words of the web's many languages and markups, one hand-written form each.

Every form here was written for this test (nothing is copied from any page): a contact form
in some language, and the roles its fields must get. The rules they hold are general ones
(label words of other languages, given name beside surname, country lists, example values in
placeholders, ``autocomplete`` tokens), not any page's markup.
"""

from __future__ import annotations

import pytest

from formfill import build_fill_plan, classify_forms, render_message
from tests.support.formfill_pages import contact_form, roles

SEND = "<button type=submit>Send</button>"


def _form(body: str, message: str = "Message") -> str:
    return (
        "<html><body><form action='/send'>"
        f"{body}<p><label for='msg'>{message}</label><textarea id='msg' name='msg'></textarea></p>"
        f"{SEND}</form></body></html>"
    )


def _row(label: str, control: str) -> str:
    return f"<p><label>{label} {control}</label></p>"


def _boxes(*rows: tuple[str, str]) -> str:
    """One labelled text box per (label, name)."""
    return "".join(_row(label, f"<input name='{name}'>") for label, name in rows)


COUNTRIES = "".join(
    f"<option>{c}</option>"
    for c in ("Select…", "Austria", "Belgium", "Canada", "France", "Germany", "Japan", "Spain")
)
STATES = "".join(
    f"<option>{s}</option>"
    for s in [
        "Alabama",
        "Alaska",
        "Arizona",
        "Arkansas",
        "California",
        "Colorado",
        "Connecticut",
        "Delaware",
        "Florida",
        "Georgia",
        "Hawaii",
        "Idaho",
        "Illinois",
        "Indiana",
        "Iowa",
        "Kansas",
        "Kentucky",
        "Louisiana",
        "Maine",
        "Maryland",
    ]
)

CASES: list[tuple[str, str, str, dict[str, str]]] = [
    (
        "Polish: given name, surname, company, phone, e-mail",
        _boxes(
            ("Imię", "f1"),
            ("Nazwisko", "f2"),
            ("Firma", "f3"),
            ("Telefon", "f4"),
            ("Adres e-mail", "f5"),
        ),
        "Wiadomość",
        {"f1": "first_name", "f2": "last_name", "f3": "company", "f4": "phone", "f5": "email"},
    ),
    (
        "Dutch: voornaam, achternaam, e-mailadres, telefoonnummer, onderwerp",
        _boxes(
            ("Voornaam", "a"),
            ("Achternaam", "b"),
            ("E-mailadres", "c"),
            ("Telefoonnummer", "d"),
            ("Onderwerp", "e"),
        ),
        "Bericht",
        {"a": "first_name", "b": "last_name", "c": "email", "d": "phone", "e": "subject"},
    ),
    (
        "Swedish: förnamn, efternamn, e-post",
        _boxes(("Förnamn", "a"), ("Efternamn", "b"), ("E-post", "c")),
        "Meddelande",
        {"a": "first_name", "b": "last_name", "c": "email"},
    ),
    (
        "Italian: 「Nome」 beside 「Cognome」 is the given name; CAP, città, provincia",
        _boxes(
            ("Nome", "a"),
            ("Cognome", "b"),
            ("Email", "c"),
            ("CAP", "d"),
            ("Città", "e"),
            ("Provincia", "f"),
        ),
        "Messaggio",
        {
            "a": "first_name",
            "b": "last_name",
            "d": "postal_code",
            "e": "city",
            "f": "prefecture",
        },
    ),
    (
        "English 「Name」 then 「Surname」: the given name, then the family name",
        _boxes(("Name", "n"), ("Surname", "s")) + _row("Email", "<input type=email name='e'>"),
        "Message",
        {"n": "first_name", "s": "last_name"},
    ),
    (
        "German: 「E-Mail wiederholen」 is the confirmation; Thema, Handy, Datenschutz",
        _boxes(("E-Mail", "m1"), ("E-Mail wiederholen", "m2"), ("Thema", "t"), ("Handy", "h"))
        + _row("<input type=checkbox name='ok'>", "Ich habe die Datenschutzerklärung gelesen"),
        "Ihre Nachricht",
        {"m1": "email", "m2": "email_confirm", "t": "subject", "h": "phone", "ok": "consent"},
    ),
    (
        "a country list is no state list, whatever the row says; a list of states is",
        _row("Email", "<input type=email name='e'>")
        + f"<p>State</p><p><select name='country'>{COUNTRIES}</select></p>"
        + f"<p><select name='region_code'>{STATES}</select></p>",
        "Message",
        {"country": "other", "region_code": "prefecture"},
    ),
    (
        "the words 「Country」 and 「Pays」 ask for no field of ours",
        _row("Email", "<input type=email name='e'>")
        + _row("Country", "<input name='c1'>")
        + _row("Pays", "<input name='c2'>"),
        "Message",
        {"c1": "other", "c2": "other"},
    ),
    (
        "a web address is a link; so is a box whose label gives an https:// example",
        _row("Email", "<input type=email name='e'>")
        + _row("Website address", "<input name='w1'>")
        + _row("Video (optional, e.g. https://video.example/watch/1)", "<input name='w2'>")
        + "<p><input name='w3' placeholder='www.example.org'></p>",
        "Message",
        {"w1": "url", "w2": "url", "w3": "url"},
    ),
    (
        "a topic typed in one line is the subject; a list of topics is the inquiry type",
        _row("Email", "<input type=email name='e'>")
        + _row("Topic", "<input name='t'>")
        + "<p><select name='dept'><option>Billing</option><option>Technical</option>"
        "<option>Press</option></select></p>",
        "Message",
        {"t": "subject", "dept": "inquiry_type"},
    ),
    (
        "two unmarked boxes under one 「Name」 on an English form: given name, then family name",
        "<table><tr><th>Name</th><td><input name='n1'> <input name='n2'></td></tr>"
        "<tr><th>Email</th><td><input type=email name='e'></td></tr></table>",
        "Message",
        {"n1": "first_name", "n2": "last_name"},
    ),
    (
        "two unmarked boxes under one 「お名前」: 姓 then 名",
        "<table><tr><th>お名前</th><td><input name='n1'> <input name='n2'></td></tr>"
        "<tr><th>メールアドレス</th><td><input type=email name='e'></td></tr></table>",
        "お問い合わせ内容",
        {"n1": "last_name", "n2": "first_name"},
    ),
    (
        "example values: a person's name, an international phone number",
        "<p><input name='who' placeholder='John Doe'></p>"
        "<p><input name='num' placeholder='+49 30 1234567'></p>"
        "<p><input name='em' placeholder='you@example.com'></p>",
        "Message",
        {"who": "name", "num": "phone", "em": "email"},
    ),
    (
        "autocomplete tokens of a split phone number",
        _row("Email", "<input type=email name='e'>")
        + "<p>Phone <input name='p1' autocomplete='tel-area-code'>"
        " <input name='p2' autocomplete='tel-local'></p>",
        "Message",
        {"p1": "phone_part", "p2": "phone_part"},
    ),
    (
        "identifiers written as one word, with no label at all",
        "<p><input name='yourname'></p><p><input name='telno'></p>"
        "<p><input name='email'></p><p><input name='subj'></p>",
        "Message",
        {"yourname": "name", "telno": "phone", "subj": "subject"},
    ),
]


CASES.append(
    (
        "「type your …」 is the verb: no inquiry type, so no subject",
        _boxes(("Email", "e")) + "<p><input name='q' placeholder='Type your question here'></p>",
        "Message",
        {"q": "other"},
    )
)


@pytest.mark.parametrize(("why", "body", "message", "expected"), CASES, ids=[c[0] for c in CASES])
def test_field_words(why: str, body: str, message: str, expected: dict[str, str]) -> None:
    got = roles(contact_form(_form(body, message), "https://example.org/contact"))
    assert {name: got.get(name) for name in expected} == expected, why


def test_a_typed_topic_is_answered_with_the_subject(qa_script: dict[str, object]) -> None:
    # The plan leaves a typed inquiry type empty: as a subject the required box gets an answer.
    html = _form(
        _row("Email", "<input type=email name='e' required>")
        + _row("Reason for contacting us", "<input name='why' required>")
    )
    message = render_message(qa_script, "Example Ltd.", "https://mikomi.example/optout/t")
    plan = build_fill_plan(contact_form(html), qa_script, message)
    values = {a.name: a.value for a in plan.actions}
    assert message.subject
    assert values["why"] == message.subject


def test_a_message_and_a_whole_address_among_unknown_boxes_is_no_inquiry() -> None:
    # A sign-up without a password that also asks for remarks: three boxes of no role of ours
    # in eleven are too many for an inquiry, now that the address block is understood.
    body = _boxes(
        ("Name", "n"),
        ("Email", "e"),
        ("Phone", "p"),
        ("Street", "st"),
        ("City", "ci"),
        ("Region", "re"),
        ("Zip", "z"),
        ("Date of birth", "dob"),
        ("Occupation", "occ"),
        ("Shoe size", "shoe"),
    )
    forms = classify_forms(_form(body, "Remarks"), "https://example.org/join")
    assert [f.kind for f in forms] == ["other"]
    assert roles(forms[0])["re"] == "prefecture"
