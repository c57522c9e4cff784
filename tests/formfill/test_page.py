"""Page states after an action: every state, the confirm-page trap, corrective retries."""

from __future__ import annotations

import pytest

from formfill import (
    FillVariant,
    FrameSnapshot,
    PageSnapshot,
    PageState,
    classify_page,
    corrective_variant,
    detect_captcha,
    detect_refusal,
)
from tests.support.formfill_pages import page

CONTACT = "https://example.jp/contact/"
SIMPLE_FORM = """<form action="/c" method="post"><p>お名前<input name="n"></p><p>メール<input type="email" name="m"></p>
<p>内容<textarea name="t"></textarea></p><button type="submit">送信</button></form>"""


def state(
    html: str, url: str = CONTACT, *, before: str | None = None, title: str = ""
) -> PageState:
    return classify_page(PageSnapshot(url=url, html=html, title=title), before)


def test_plain_form_page() -> None:
    s = state(page("cf7.html"))
    assert s.kind == "form"
    assert s.submit_selector is not None


def test_confirm_page_presses_send_never_back() -> None:
    s = state(page("mw_wp_form_confirm.html"))
    assert s.kind == "confirm"
    assert s.submit_selector == 'input[name="submit"]'


def test_confirm_page_with_buttons_and_readonly_fields() -> None:
    html = """<h2>入力内容の確認</h2><form method="post"><table><tr><th>お名前</th><td><input name="n" value="山田" readonly></td></tr>
    <tr><th>内容</th><td><textarea name="t" readonly>x</textarea></td></tr></table>
    <button type="submit" name="back" value="1">修正する</button><button type="submit" name="go" id="go">この内容で送信する</button></form>"""
    s = state(html, "https://example.jp/contact/confirm.php")
    assert (s.kind, s.submit_selector) == ("confirm", "#go")


def test_confirm_overlay_mailform_pro_style() -> None:
    html = page("mailformpro.html").replace(
        "</body>",
        '<div id="mfp_overlay"><div id="mfp_overlay_inner"><h4>入力内容をご確認ください</h4>'
        '<button id="mfp_button_send" type="button">送信する</button><button id="mfp_button_cancel" type="button">キャンセル</button></div></div></body>',
    )
    s = state(html)
    assert (s.kind, s.submit_selector) == ("confirm", "#mfp_button_send")


@pytest.mark.parametrize(
    ("html", "url"),
    [
        ("<h1>送信完了</h1><p>お問い合わせありがとうございました。</p>", CONTACT + "thanks/"),
        ("<h1>お問い合わせを受け付けました</h1>", CONTACT),
        ("<p>受付番号: 12345</p>", "https://example.jp/contact/complete.html"),
        (
            "<h1>Thank you for your message</h1><p>We will get back to you soon.</p>",
            "https://example.com/contact",
        ),
        (
            '<div class="mw_wp_form mw_wp_form_complete"><p>お問い合わせありがとうございました。</p></div>',
            CONTACT,
        ),
    ],
)
def test_success_pages(html: str, url: str) -> None:
    assert state(html, url).kind == "success"


def test_cf7_sent_status() -> None:
    html = (
        page("cf7.html")
        .replace('data-status="init"', 'data-status="sent"')
        .replace("wpcf7-form init", "wpcf7-form sent")
    )
    html = html.replace(
        '<div class="wpcf7-response-output" aria-hidden="true"></div>',
        '<div class="wpcf7-response-output">ありがとうございます。メッセージは送信されました。</div>',
    )
    assert state(html).kind == "success"


def test_cf7_old_mail_sent_ok() -> None:
    html = SIMPLE_FORM.replace(
        "</form>", '<div class="wpcf7-response-output wpcf7-mail-sent-ok">送信しました</div></form>'
    )
    assert state(html).kind == "success"


def test_in_page_success_message_beside_the_form() -> None:
    html = (
        SIMPLE_FORM
        + '<div class="form-success">送信が完了しました。担当者よりご連絡いたします。</div>'
    )
    assert state(html).kind == "success"


def test_step_indicator_does_not_mean_success() -> None:
    html = '<ol class="steps"><li>入力</li><li>確認</li><li>送信完了</li></ol>' + SIMPLE_FORM
    assert state(html).kind == "form"


def test_cf7_validation_errors_name_the_fields() -> None:
    html = page("cf7.html").replace('data-status="init"', 'data-status="invalid"')
    html = html.replace(
        'name="your-tel"></span>',
        'name="your-tel" aria-invalid="true"><span class="wpcf7-not-valid-tip">電話番号はハイフンなしで入力してください。</span></span>',
    )
    s = state(html)
    assert s.kind == "validation_error"
    assert "your-tel" in s.error_fields
    assert "phone_no_hyphen" in s.error_hints
    assert corrective_variant(s, FillVariant()) == FillVariant(phone_no_hyphen=True)


def test_mw_wp_form_error_spans_and_kana_hint() -> None:
    html = page("mw_wp_form.html").replace(
        '<input type="text" name="kana_mei" size="20">',
        '<input type="text" name="kana_mei" size="20"><span class="error">カタカナで入力してください。</span>',
    )
    s = state(html)
    assert s.kind == "validation_error"
    assert "kana_mei" in s.error_fields
    assert "katakana" in s.error_hints
    assert corrective_variant(s, FillVariant()) == FillVariant(kana_script="katakana")


def test_error_banner_and_zenkaku_hint() -> None:
    html = (
        '<div class="alert">入力内容に誤りがあります。お名前は全角で入力してください。</div>'
        + SIMPLE_FORM
    )
    s = state(html)
    assert s.kind == "validation_error"
    assert "zenkaku" in s.error_hints
    assert corrective_variant(s, FillVariant()) == FillVariant(zenkaku=True)


def test_corrective_retry_happens_once() -> None:
    s = PageState(kind="validation_error", error_hints=frozenset({"phone_no_hyphen"}))
    first = corrective_variant(s, FillVariant())
    assert first == FillVariant(phone_no_hyphen=True)
    assert corrective_variant(s, first) is None
    assert corrective_variant(PageState(kind="validation_error"), FillVariant()) is None
    assert corrective_variant(PageState(kind="success"), FillVariant()) is None


def test_rejected_kana_field_flips_the_script() -> None:
    html = SIMPLE_FORM.replace(
        "</form>",
        '<p>フリガナ<input name="kana" aria-invalid="true"><span class="error">正しく入力してください</span></p></form>',
    )
    s = state(html)
    assert s.kind == "validation_error"
    assert "hiragana" in s.error_hints


@pytest.mark.parametrize(
    "notice",
    [
        "営業お断り",
        "※セールスお断り",
        "営業目的のお問い合わせはご遠慮ください。",
        "営業・勧誘のご連絡はお断りしております。",
        "営業、勧誘を目的とした本フォームのご利用は固くお断りいたします。",
        "弊社への売り込み・セールスのご連絡には対応いたしかねます。",
        "We accept no sales solicitations through this form.",
        "Please do not use this form for sales or marketing pitches.",
        "広告のご案内はご遠慮ください",
        "Sales inquiries will not be answered.",
        "We do not accept sales solicitations.",
    ],
)
def test_refusal_notices(notice: str) -> None:
    assert detect_refusal(notice)
    s = state(f"<p>{notice}</p>" + SIMPLE_FORM)
    assert (s.kind, s.reason) == ("refused", "refused_sales")


@pytest.mark.parametrize(
    "text",
    [
        "営業時間：平日9:00〜18:00（土日祝日はお休みをいただいております）",
        "お問い合わせはお気軽にどうぞ。",
        "個人情報は営業目的で第三者に提供いたしません。",
        "本サイトの画像の無断使用・広告への転用を禁止します。",
        "We do not share your data for marketing purposes.",
        "Our sales team are not available on weekends.",
        "No marketing emails will be sent.",
    ],
)
def test_not_refusals(text: str) -> None:
    assert detect_refusal(text) is None


def test_english_page_refusal() -> None:
    assert state(page("english.html"), "https://example.com/contact").kind == "refused"


@pytest.mark.parametrize(
    ("snippet", "kind"),
    [
        ('<div class="g-recaptcha" data-sitekey="x"></div>', "recaptcha"),
        ('<script src="https://www.google.com/recaptcha/api.js?render=KEY"></script>', "recaptcha"),
        ('<div class="h-captcha" data-sitekey="x"></div>', "hcaptcha"),
        ('<div class="cf-turnstile" data-sitekey="x"></div>', "turnstile"),
        (
            '<script src="https://challenges.cloudflare.com/turnstile/v0/api.js"></script>',
            "turnstile",
        ),
        ('<p>画像認証</p><img src="/captcha/image.php"><input name="captcha_code">', "image"),
    ],
)
def test_captchas(snippet: str, kind: str) -> None:
    assert detect_captcha(snippet) == kind
    html = SIMPLE_FORM.replace("</form>", snippet + "</form>")
    s = state(html)
    assert (s.kind, s.reason) == ("captcha", kind)


def test_no_captcha_on_a_plain_form() -> None:
    assert detect_captcha(page("cf7.html")) is None


def test_server_error_page() -> None:
    s = state(
        "<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>"
    )
    assert s.kind == "error"
    assert state("<h1>404 Not Found</h1>", CONTACT + "send.php").kind == "error"


def test_unknown_when_the_form_vanished_silently() -> None:
    before = '[data-mk="1"]'
    html = '<div id="app"><p>Loading...</p></div>'
    assert state(html, before=before).kind == "unknown"
    still = SIMPLE_FORM.replace("<form ", '<form data-mk="1" ')
    assert state(still, before=before).kind == "form"


def test_success_inside_a_form_service_frame() -> None:
    snap = PageSnapshot(
        url=CONTACT,
        html='<iframe src="https://tayori.com/form/abc"></iframe>',
        frames=(
            FrameSnapshot(
                url="https://tayori.com/form/abc/complete",
                html="<p>送信が完了しました</p>",
                index=0,
            ),
        ),
    )
    assert classify_page(snap).kind == "success"


def test_js_form_replaced_by_a_submitted_message() -> None:
    html = (
        '<div id="hs-target"><div class="submitted-message hs-main-font-element"><p>'
        "お問い合わせいただきありがとうございます。担当者よりご連絡いたします。</p></div></div>"
    )
    assert state(html, before='[data-mk="4"]').kind == "success"


def test_google_forms_response_in_a_frame() -> None:
    snap = PageSnapshot(
        url=CONTACT,
        html='<iframe src="https://docs.google.com/forms/d/e/x/viewform"></iframe>',
        frames=(
            FrameSnapshot(
                url="https://docs.google.com/forms/d/e/x/formResponse",
                html='<div class="vHW8K">回答を記録しました。</div><a href="viewform">別の回答を送信</a>',
                index=0,
            ),
        ),
    )
    assert classify_page(snap).kind == "success"


def test_contact_page_intro_promising_a_reply_is_still_a_form() -> None:
    html = "<p>3営業日以内に担当者よりご連絡いたします。</p>" + SIMPLE_FORM
    assert state(html).kind == "form"


def test_required_notes_with_error_classes_are_not_errors() -> None:
    html = '<p class="error-note">※印は必須項目です</p><p class="form-error"></p>' + SIMPLE_FORM
    assert state(html).kind == "form"


def test_hidden_thanks_template_is_not_success() -> None:
    # The driver annotates only controls, links and images: a hidden <div> is judged from its
    # inline style, and the rendered text (when given) is what counts.
    html = (
        '<div class="thanks" style="display:none">送信が完了しました。ありがとうございました。</div>'
        '<div id="app"><p>Loading</p></div>'
    )
    annotated = html.replace('<div id="app">', '<div id="app"><a data-mk="1" href="/">top</a>')
    assert state(annotated, before='[data-mk="9"]').kind == "unknown"
    snap = PageSnapshot(url=CONTACT, html=annotated, text="Loading")
    assert classify_page(snap, '[data-mk="9"]').kind == "unknown"
    shown = PageSnapshot(url=CONTACT, html=annotated, text="送信が完了しました。")
    assert classify_page(shown, '[data-mk="9"]').kind == "success"
