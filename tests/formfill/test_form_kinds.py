"""Form kinds and field roles on markup written the way sites across the web write it.

The cases are our own markup, modelled on patterns seen across real sites; the engine's figures
on a public corpus of real pages are in bench/wild_forms.py.
"""

from __future__ import annotations

import pytest

from formfill import PageSnapshot, classify_forms, find_inquiry_form


def kinds(body: str) -> list[str]:
    return [f.kind for f in classify_forms(f"<html><body>{body}</body></html>", "https://x.jp/")]


@pytest.mark.parametrize(
    "form",
    [
        '<form action="/search/"><input name="searchstring"><button>Искать</button></form>',
        '<form id="search-theme-form"><input name="search_theme_form"><input type="submit" '
        'value="Go"></form>',
        '<form action="/katalog/" name="search_mini_form"><input name="q" '
        'placeholder="Search content and services..."></form>',
        '<form action="ann_search.php"><input name="keywords"><input name="zip_code">'
        '<select name="cat"><option>a</option></select><input type="checkbox" name="photo">'
        "<button>OK</button></form>",
        '<form action="/s"><input name="kw" placeholder="サイト内検索"><button>検索</button></form>',
        '<form role="search"><input name="query"></form>',
        '<form action="./search.php"><input name="keywords"> Author <input name="author">'
        '<select name="sk"><option>Time</option></select><button>Go</button></form>',
        '<form class="filter"><input type="checkbox" name="condition[]"> Price '
        '<input name="priceFrom"> to <input name="priceTo"><button>Apply</button></form>',
        '<form action="/jobs.aspx"><input name="txtKeyword"><input name="txtLocation">'
        "<button>Find jobs</button></form>",
    ],
)
def test_search_boxes_in_many_languages(form: str) -> None:
    assert kinds(form) == ["search"]


def test_login_and_registration_are_told_by_what_the_author_names_them() -> None:
    login = """<form id="new_user" action="/users/sign_in"><input name="user[email]" type="email">
    <input name="user[password]" type="password"><input type="checkbox" name="remember">
    <p>Forgot your password? Don't have an account? Sign up</p><button>Sign in</button></form>"""
    register = """<form action="/join.html" name="newuser"><p>Create an account</p>
    <input name="login" type="email"><input name="password" type="password">
    <input name="public_name"><input name="zip"><button>Join</button></form>"""
    japanese = """<form action="/member/entry"><p>メールアドレス<input name="mail"></p>
    <p>パスワード<input type="password" name="pw"></p><p>お名前<input name="name"></p>
    <p>電話番号<input name="tel"></p><button>会員登録する</button></form>"""
    assert kinds(login + register + japanese) == ["login", "registration", "registration"]


def test_an_email_box_that_resets_a_password_is_no_newsletter() -> None:
    reset = """<form action="/users/password"><input name="user[email]" type="email">
    <button>Send me reset password instructions</button></form>"""
    french = """<form action="trait_mot_de_passe_perdu.cfm"><p>Récupération du mot de passe</p>
    Email : <input name="email"><input type="submit" value="Valider"></form>"""
    newsletter = """<form class="newsletter"><input type="email" name="email">
    <button>Subscribe</button></form>"""
    assert kinds(reset + french + newsletter) == ["password_reset", "password_reset", "newsletter"]


@pytest.mark.parametrize(
    "form",
    [
        # A mailing-list signup that asks for a name and a zip code.
        """<form class="EmailSignUpForm ContactForm" action="/Account-EmailSignup">
        First name <input name="firstname"> Last name <input name="lastname">
        Email <input name="email"> Zip <input name="zip"><button>Sign up</button></form>""",
        # A lead form without a message box: nowhere to write an inquiry.
        """<form action="https://example.com/leadCapture/save">First name <input name="FirstName">
        Email <input name="Email"> Phone <input name="Phone"> Organization <input name="Company">
        <button>Save</button></form>""",
        # A checkout with a note box.
        """<form action="/cart/checkout"><input name="qty" value="1">Name <input name="name">
        Email <input name="email"><button>Add to cart</button></form>""",
        # A form that puts a listing on the site, named so.
        """<form id="SuggestionIndexForm" action="/nykupong">Navn <input name="author">
        Email <input name="email" type="email"> Butikk <input name="shop">
        Om butikken <textarea name="description"></textarea><button>Send</button></form>""",
        # A cart form that also lets you tell a friend.
        """<form name="cart_quantity" action="/product_info.php?action=add_product">
        <input name="cart_quantity" value="1"> Your name <input name="name"> Friend's email
        <input name="email"> Message <textarea name="message"></textarea><button>Go</button></form>""",
        # A registration with an 「about me」 box.
        """<form action="/signup">Name <input name="name"> Email <input name="email">
        About you <textarea name="about"></textarea><button>Sign up</button></form>""",
    ],
)
def test_forms_that_only_look_like_contact_forms(form: str) -> None:
    assert kinds(form) != ["contact"]


def test_a_hidden_modal_is_read_as_shown_but_never_chosen() -> None:
    html = """<html><head><style>.modal { display: none }</style></head><body>
    <div class="modal"><form id="login" action="/login"><input name="user">
    <input type="password" name="pass"><button>Log in</button></form>
    <form id="feedback"><p>Name <input name="person_name"></p>
    <p>Email <input name="person_email"></p><p>Your comments <textarea name="comments"></textarea></p>
    <div style="display:none"><input name="website"></div><button>Send</button></form></div>
    </body></html>"""
    login, feedback = classify_forms(html, "https://x.jp/")
    assert login.kind == "login"
    assert feedback.kind == "contact"
    assert {f.name: f.role for f in feedback.fields} == {
        "person_name": "name",
        "person_email": "email",
        "comments": "message",
        "website": "honeypot",
    }
    assert not any(f.visible for f in feedback.fields)
    assert find_inquiry_form(PageSnapshot(url="https://x.jp/", html=html)) is None


def test_contact_fields_labelled_in_other_languages() -> None:
    html = """<form action="/kontakt"><p>Votre nom : <input name="con_nom"></p>
    <p>Votre prénom : <input name="con_pre"></p><p>Courriel : <input name="con_mail"></p>
    <p>Téléphone : <input name="con_tel"></p><p>Sujet du message : <input name="con_tit"></p>
    <p>Ihre Nachricht <textarea name="con_msg"></textarea></p>
    <p>Pièce jointe <input type="file" name="upload"></p>
    <p>Code de sécurité : <input name="vv"></p>
    <input type="hidden" name="recaptcha_challenge_field"><button>Envoyer</button></form>"""
    form = classify_forms(html, "https://x.fr/")[0]
    assert form.kind == "contact"
    assert {f.name: f.role for f in form.fields} == {
        "con_nom": "last_name",
        "con_pre": "first_name",
        "con_mail": "email",
        "con_tel": "phone",
        "con_tit": "subject",
        "con_msg": "message",
        "upload": "other",
        "vv": "captcha",
    }
    assert form.has_captcha


@pytest.mark.parametrize(
    "question", ["What is 1 plus 1 (1+1=?)", "6 + = 12", "Код безопасности", "Sicherheitscode"]
)
def test_questions_that_tell_people_from_bots_are_captchas(question: str) -> None:
    html = f"""<form>Name <input name="n"> Email <input type="email" name="e">
    Message <textarea name="m"></textarea><label>{question} <input name="a"></label>
    <button>Send</button></form>"""
    form = classify_forms(html, "https://x.com/")[0]
    assert {f.name: f.role for f in form.fields}["a"] == "captcha"
    assert form.has_captcha


def test_what_one_box_forms_are_named_decides_their_kind() -> None:
    forgot = """<form id="forgot" action="/forgot"><input name="email" type="email">
    <button>Send</button></form>"""
    fan_club = """<form id="fanbridge_signup" action="/signup/submit"><input name="email">
    <button>Sign up</button></form>"""
    account = """<form action="/signup/pre"><p>メールアドレス<input name="mail"></p>
    <button>同意して会員登録へ進む</button></form>"""
    news = """<form id="newsletterform" action="#"><input name="in-newsletter"></form>"""
    assert kinds(forgot + fan_club + account + news) == [
        "password_reset",
        "newsletter",
        "registration",
        "newsletter",
    ]


def test_a_login_form_with_a_create_account_button_is_a_login() -> None:
    html = """<form id="login-form" action="/customer/account/loginPost/">
    Email <input name="login[username]"> Password <input type="password" name="login[password]">
    <button type="button">Create an account</button><button>Login</button></form>"""
    assert kinds(html) == ["login"]


def test_a_listing_or_a_lone_post_box_is_no_inquiry_form() -> None:
    listing = """<form id="NewRentalForm">Property name <input name="Name">
    Contact name <input name="ContactName"> Email <input name="ContactEmail" type="email">
    Phone <input name="ContactPhone"> Office phone <input name="Phone">
    Website <input name="URL"> Rates URL <input name="RatesURL"> Photos URL <input name="PicURL">
    Video URL <input name="VideoURL">
    Pet policy <textarea name="PetPolicy"></textarea><button>Submit listing</button></form>"""
    reply = """<form name="postform" action="/article.php?board=x">標題: <input name="title">
    内 容: <textarea name="text"></textarea><input type="submit" value="发表"></form>"""
    assert kinds(listing + reply) == ["other", "comment"]
