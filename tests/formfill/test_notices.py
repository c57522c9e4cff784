"""Sales notices read for their meaning: what is declined or welcomed, on real-style phrasings.

Each phrasing is the kind of sentence Japanese (and English) company contact pages carry above
or below their forms, in small print, or as an image's alt text.
"""

from __future__ import annotations

import pytest

from formfill import PageSnapshot, classify_page, detect_refusal
from formfill._notices import read_sales_notices

DECLINED = [
    # The plain and the polite forms.
    "営業お断り",
    "※セールスお断り",
    "営業目的のお問い合わせはご遠慮ください。",
    "営業・勧誘のご連絡はお断りしております。",
    "営業、勧誘を目的とした本フォームのご利用は固くお断りいたします。",
    "営業目的でのフォームのご利用はお控えください。",
    "営業・セールスを目的としたお問い合わせはご遠慮願います。",
    "当フォームからの営業行為は禁止いたします。",
    "営業目的のご利用はお断りいたします",
    "営業目的のご連絡は歓迎しておりません。",
    "※営業電話・営業メールはお断りしております",
    # Proposals, service introductions, pitches, alliances — without the word 営業.
    "弊社へのご提案はお受けしておりません。",
    "各種ご提案につきましては、お受けいたしかねます。",
    "サービスのご案内はご遠慮いただいております。",
    "商品・サービスのご紹介はお断りいたします。",
    "自社製品のご紹介を目的としたご連絡はご遠慮ください。",
    "売り込みはお断りします。",
    "売り込み目的のご連絡には対応いたしかねます。",
    "弊社への売り込み・セールスのご連絡には対応いたしかねます。",
    "業務提携のご提案は受け付けておりません。",
    "業務提携・協業のお申し出はお断りしております。",
    "広告掲載のご依頼・SEOのご案内はご遠慮ください。",
    "広告のご案内はご遠慮ください",
    "求人広告のご案内は一切お断りしております。",
    "テレアポ・飛び込みの営業はお断り。",
    "新規のお取引のお申し込みはお受けしておりません。",
    "業者の方からのお問い合わせはご遠慮ください。",
    # "We do not reply to …".
    "営業を目的としたお問い合わせには返信いたしかねます。",
    "営業目的のメールには回答は致しません。",
    "セールスのご連絡にはご返答できませんのでご了承ください。",
    "サービスのご案内をいただいても、お返事はいたしかねます。",
    "営業目的のご連絡には、ご返信できない場合がございます。",
    "ご提案・ご案内に関しましては、お返事を差し上げておりません。",
    "営業目的のお問い合わせにつきましては、回答いたしません。",
    "営業に関するご連絡は、読まずに削除させていただきます。",
    # A subject named in a heading, then declined.
    "【営業のご連絡について】\n本フォームでは受け付けておりません。",
    "営業目的の方へ。こちらのフォームからのご連絡はご遠慮ください。",
    "恐縮ですが、営業のご連絡はご遠慮ください。",
    # Refusal clause after a welcoming one, in the same sentence.
    "お仕事のご相談は歓迎しますが、営業目的のご連絡はお断りします。",
    "採用のお問い合わせはお気軽にどうぞ。なお、営業・勧誘はお断りいたします。",
    # Small print and full-width text.
    "＊営業・勧誘目的のお問い合わせはご遠慮ください＊",
    "（営業・売込みはご遠慮ください）",
    # English.
    "We accept no sales solicitations through this form.",
    "Please do not use this form for sales or marketing pitches.",
    "Sales inquiries will not be answered.",
    "We do not accept sales solicitations.",
    "Unsolicited offers will not be answered.",
    "Vendors: please do not contact us through this form.",
    "We do not respond to sales inquiries or partnership offers.",
    "No solicitations, please.",
]

NOT_DECLINED = [
    # Welcoming sales and proposals.
    "営業・ご提案もこちらから",
    "営業・ご提案もこちらからどうぞ。",
    "サービスのご案内・ご提案も歓迎しております。",
    "業務提携のご提案をお待ちしております。",
    "新規のお取引・協業のご相談はお気軽にお寄せください。",
    "営業のご連絡もお断りしておりません。お気軽にどうぞ。",
    "営業・ご提案のご連絡もご遠慮なくどうぞ。",
    "広告掲載のご依頼はこちらから受け付けております。",
    "営業・ご提案もこちらから。なお、内容によってはご返信いたしかねる場合がございます。",
    "ご提案も歓迎していますが、すべてにご返信できるわけではありません。",
    "Sales inquiries and partnership proposals are welcome.",
    "Vendors are welcome to contact us through this form.",
    # The company's own conduct, business hours, privacy.
    "営業時間：平日9:00〜18:00（土日祝日はお休みをいただいております）",
    "土日祝日は営業しておりませんので、返信は翌営業日となります。",
    "営業日以外のお問い合わせには、翌営業日以降にご回答いたします。",
    "年末年始の営業について。期間中のお問い合わせへの対応はいたしかねます。",
    "個人情報は営業目的で第三者に提供いたしません。",
    "弊社から営業のご連絡をすることはございません。",
    "しつこい営業は一切いたしませんので、お気軽にご相談ください。",
    "無理な売り込みは一切ございません。",
    "お客様への強引な勧誘は禁止しております。",
    "お見積り・ご提案のご依頼は無料です。",
    "ご提案書のご請求はこちらから。",
    "ご意見・ご提案には個別にお答えできませんのでご了承ください。",
    # Refusals about something other than sales.
    "お問い合わせはお気軽にどうぞ。",
    "電話でのお問い合わせは受け付けておりません。フォームからお問い合わせください。",
    "求人・採用に関するお問い合わせは採用ページからお願いいたします。",
    "商品のご注文はお電話では受け付けておりません。",
    "本サイトの画像の無断使用・広告への転用を禁止します。",
    "内容によってはご返信いたしかねる場合がございます。",
    "サービスのご案内が不要な方はチェックを外してください。",
    "提携駐車場はご利用いただけません。",
    "We do not share your data for marketing purposes.",
    "Our sales team are not available on weekends.",
    "No marketing emails will be sent.",
    "We will never sell your data or spam you.",
]


@pytest.mark.parametrize("text", DECLINED)
def test_declining_notices_are_refusals(text: str) -> None:
    assert detect_refusal(text), text
    assert any(n.stance == "declined" for n in read_sales_notices(text))


@pytest.mark.parametrize("text", NOT_DECLINED)
def test_welcoming_or_unrelated_notices_are_not(text: str) -> None:
    assert detect_refusal(text) is None, read_sales_notices(text)


def test_the_table_is_large_both_ways() -> None:
    assert len(DECLINED) + len(NOT_DECLINED) >= 60
    assert len(DECLINED) >= 30 and len(NOT_DECLINED) >= 30


@pytest.mark.parametrize(
    ("text", "stance", "subject"),
    [
        ("営業・ご提案もこちらから", "welcomed", "営業"),
        ("業務提携のご提案は受け付けておりません。", "declined", "業務提携"),
        ("サービスのご案内はご遠慮いただいております。", "declined", "サービスのご案内"),
        ("業者の方からのお問い合わせはご遠慮ください。", "declined", "業者"),
    ],
)
def test_notices_say_who_or_what_and_how(text: str, stance: str, subject: str) -> None:
    (notice,) = read_sales_notices(text)
    assert (notice.stance, notice.subject) == (stance, subject)


FORM = (
    '<form action="/contact" method="post"><p>お名前<input name="name"></p>'
    '<p>メール<input type="email" name="email"></p>'
    '<p>お問い合わせ内容<textarea name="body"></textarea></p>'
    "<p><button>送信する</button></p>{after}</form>"
)


@pytest.mark.parametrize(
    "after",
    [
        "<p><small>※営業目的でのご利用には返信いたしかねます。</small></p>",
        '<p><img src="/img/notice.png" alt="サービスのご案内・売り込みはお断りいたします"></p>',
    ],
)
def test_refusal_under_the_submit_button_or_in_an_image(after: str) -> None:
    snapshot = PageSnapshot(url="https://example.jp/contact", html=FORM.format(after=after))
    state = classify_page(snapshot)
    assert (state.kind, state.reason) == ("refused", "refused_sales")


def test_a_page_welcoming_sales_is_a_form() -> None:
    html = "<p>営業・ご提案もこちらからどうぞ。</p>" + FORM.format(after="")
    state = classify_page(PageSnapshot(url="https://example.jp/contact", html=html))
    assert state.kind == "form"
