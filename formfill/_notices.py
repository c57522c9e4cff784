"""The two reasons to walk away from a form: a 営業お断り notice and a CAPTCHA.

A sales notice is read for its meaning, clause by clause: *what* kind of contact it is about (a
purpose: sales, proposals, service introductions, 売り込み, business alliances, or a party:
業者, vendors), and *what it says* about it — declined (お断り, ご遠慮, 受け付けておりません,
"we do not reply to …", 返信いたしかねます) or welcomed (歓迎, お気軽に, 「営業・ご提案も
こちらから」). A clause that talks about the company's own conduct (「しつこい営業はいたしません」,
「個人情報を営業目的で第三者に提供いたしません」) declines nothing: no reply-verb, no refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from formfill._dom import nfkc

Stance = Literal["declined", "welcomed"]


@dataclass(frozen=True, slots=True)
class SalesNotice:
    """What a notice says about unsolicited business contact: ``stance`` towards ``subject``
    (the words naming the kind of contact or who sends it), in ``sentence``."""

    stance: Stance
    subject: str
    sentence: str


# --- Japanese ----------------------------------------------------------------------------------

# What is declined or welcomed: a purpose of contact (営業, ご提案, サービスのご案内, 業務提携 …)
# or the party who makes it (業者, 営業の方). 営業 followed by 時間/日/所/部/して … is the
# company's own business (hours, office, "we are closed"), not a sales contact.
_JA_SUBJECT = re.compile(
    r"(?:営業(?<!年末年始の営業)(?<!年末年始営業)(?<!夏季営業)(?<!臨時営業)(?<!通常営業)(?<!本日の営業)(?<!店舗の営業)(?<!休日営業)(?<!祝日営業)(?!時間|日|所|部|担当|本部|拠点|中|終了|カレンダー|職|開始|再開|休止|して|いたし|致し|しており|成績|秘密|利益|年数|許可|品目|種目|エリア|範囲|内容|実績|力|権)"
    r"|セールス(?!ポイント)|売り?込み?(?=み|の|・|、|は|等|など|や|目的|電話|メール|$)|売込|押し売り|勧誘|テレアポ|飛び込み|ダイレクトメール"
    r"|ご?提案(?!の?(?:ご)?依頼|書の?(?:ご)?請求|させて|いたし|致し|します|を(?:ご)?希望)"
    r"|(?:サービス|商品|製品|ソリューション|システム|ツール|自社|貴社|御社|広告|宣伝|SEO|ホームページ制作|HP制作|求人広告|人材紹介|人材派遣|投資|不動産|保険)"
    r"(?:等|など)?の?(?:ご)?(?:案内|紹介|営業|宣伝|PR|売り込み|セールス|勧誘)"
    r"|広告(?:掲載)?の?(?:ご)?(?:依頼|営業|勧誘|出稿)|宣伝(?:目的|行為)|PR(?:目的|のご連絡)"
    r"|(?:業務|資本)?提携(?!駐車場|病院|店|先の|施設|ローン|校)|協業|アライアンス|パートナー(?:シップ)?(?:契約)?の?(?:ご)?(?:提案|お誘い|打診)"
    r"|新規(?:の)?(?:お)?取引|(?:販売|営業|広告|代理店|人材|派遣)?業者|営業の方|販売代理店の(?:ご)?(?:提案|募集))"
)
# Said about the subject: declined (including "gets no reply"), in the ways Japanese sites say it.
_JA_DECLINED = re.compile(
    r"お断り(?!して(?:おり|い)ません|しません|することは(?:ありません|ございません)|いたしません)|おことわり|ご?遠慮(?!なく)|お控え|控えて|禁止|禁じ"
    r"|受け?付け?(?:て(?:おり|い)ません|ません|(?:いたし|致し|し)かね|不可|対象外)|受付(?:いたして|して)?(?:おり|い)ません"
    r"|お受け(?:して(?:おり|い)ません|できません|(?:いたし|致し|し)かね|いたしません|致しません|しません)"
    r"|応じ(?:かね|られません|て(?:おり|い)ません|ません)"
    r"|(?:対応|返信|回答|返答|お?返事|お答え|ご?連絡を?差し上げ)(?:は|を|も|等|など)?(?:一切)?(?:いたし|致し|し|でき|出来|差し上げ)?(?:かね|ません|て(?:おり|い)ません|ないこと|ない場合|ない)"
    r"|ご?(?:利用|使用)(?:は|を)?(?:いただけ|頂け|になれ|でき)ません|(?:利用|使用|送信|送付)(?:は)?(?:しないで|なさらないで)|送らないで"
    r"|歓迎(?:して(?:おり|い)ません|しません|いたしません|致しません)|見送らせて|差し?控えさせて|(?:削除|破棄)(?:させていただ|いたし|致し|します)|対象外|(?:利用|使用|送信)不可|NG(?!ワード)"
)
_JA_WELCOMED = re.compile(
    r"歓迎(?!して(?:おり|い)ません|しません|いたしません|致しません)|お気軽|お待ちして|お待ちしております|受け?付け?て(?:おり|い)ます|受付中|承って(?:おり|い)ます|お受けして(?:おり|い)ます"
    r"|(?:も|は)こちら(?:から|へ|まで|より)|お寄せください|お送りください|ご連絡ください|ご相談ください|もどうぞ|募集(?:して(?:おり|い)ます|中)"
    r"|お断りして(?:おり|い)ません|お断りしません|お断りすることは(?:ありません|ございません)|ご?遠慮なく"
)
# Whose conduct a clause is about: 「弊社から営業のご連絡をすることはございません」 is the
# company's own promise, not a notice to senders.
_JA_OWN_CONDUCT = re.compile(
    r"(?:弊社|当社|私ども|わたくしども|当店|スタッフ|社員)(?:から|より|による|が)|お客様(?:への|に対する|に対して)|お客さま(?:への|に対する)"
)
# ご提案 among ご意見・ご要望 is a customer's suggestion, not a business proposal.
_JA_FEEDBACK = re.compile(r"ご?意見|ご?要望|ご?感想|アイデア")
# A clause that only names the subject, introducing what follows (【営業目的の方へ】,
# 「営業のご連絡について」), or a sentence that says "this form" hands its subject on.
_JA_HEADING = re.compile(
    r"(?:について|に関して|に関するお願い|の方へ|の皆様へ|の皆さまへ|をお考えの方)[】」』\]]?$"
)
_JA_THIS_FORM = re.compile(r"(?:本|この|当|こちらの)(?:フォーム|窓口|ページ)|こちらでは")

# Every subject contains one of these words (a cheap test before the patterns).
_JA_ANCHORS = (
    "営業", "セールス", "売", "勧誘", "テレアポ", "飛び込み", "ダイレクトメール", "提案", "案内",
    "紹介", "宣伝", "PR", "広告", "提携", "協業", "アライアンス", "パートナー", "取引", "業者",
)  # fmt: skip
_JA_SENTENCES = re.compile(r"[。！!？?\n]+|(?=[※●■◆★◇□])")
_JA_CLAUSES = re.compile(r"(?<=が)、|(?<=けれど)、?|(?<=ものの)、?|(?=ただし|但し|なお、|尚、)")

# --- English -----------------------------------------------------------------------------------

_EN_SUBJECT = re.compile(
    r"\b(?:sales (?:inquiries|enquiries|e-?mails|messages|pitches|calls|offers|contacts|requests|solicitations?|people|reps?|representatives|purposes|or marketing)"
    r"|sales\b(?= (?:and|or|&) (?:marketing|advertising|solicitation))|solicitations?|soliciting|solicitors?"
    r"|(?:marketing|advertising|promotional|vendor|service|partnership|business|unsolicited) (?:inquiries|enquiries|e-?mails|messages|pitches|calls|offers|proposals|requests|contacts|solicitations?)"
    r"|unsolicited \w+|cold (?:calls|e-?mails|pitches|outreach)|vendors|agencies|recruiters)\b"
)
_EN_DECLINED = re.compile(
    r"\bnot (?:be )?(?:accepted|welcome|answered|responded to|replied to|returned|tolerated|permitted|considered|read|reviewed|entertained)"
    r"|\b(?:won't|will not|cannot|can't|do not|don't|does not|doesn't) (?:be )?(?:accept|respond|reply|answer|entertain|consider|welcome|receive a (?:reply|response))"
    r"|\b(?:please )?(?:do not|don't|refrain from|avoid) (?:use|using|send|sending|submit|submitting|contact|contacting)"
    r"|\bprohibited|\bdeclined|\bno (?:reply|response|answer)|\bwill be (?:ignored|deleted|discarded)|\bnot welcome"
    r"|\bno (?=solicit|sales (?:calls|pitches|inquiries|solicitations)|cold |vendors|agencies|recruiters)"
)
_EN_WELCOMED = re.compile(
    r"\bwelcome(?! to)\b|\bfeel free\b|\bhappy to hear\b|\bare invited\b|\bwe (?:gladly )?accept\b"
)
_EN_OWN_CONDUCT = re.compile(
    r"\b(?:we|our (?:team|staff))\b[^.]{0,30}\b(?:never|not|don't|do not|won't)\b[^.]{0,20}\b(?:share|sell|send you|spam|call you|contact you|use your)\b|\bno marketing e-?mails will\b"
)
_EN_ANCHORS = (
    "sales", "solicit", "vendor", "unsolicited", "cold ", "agencies", "recruiters", "marketing",
    "advertising", "promotional", "partnership", "business", "service",
)  # fmt: skip
_EN_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_EN_CLAUSES = re.compile(r";|,? but |,? however,? ")


def read_sales_notices(text: str) -> tuple[SalesNotice, ...]:
    """Every clause of ``text`` that declines or welcomes unsolicited business contact.

    A clause counts when it names the subject (a purpose such as 営業, ご提案, サービスのご案内,
    売り込み, 業務提携, or a party such as 業者, vendors) and says something about it: declined
    (お断り, ご遠慮, 受け付けておりません, 返信いたしかねます, "will not be answered") or
    welcomed (歓迎, お気軽に, もこちらから). A refusal whose subject was named just before
    (a heading 「営業のご連絡について」, or "this form does not accept them") counts too.
    """
    if not text:
        return ()
    normalized = nfkc(text)
    found: list[SalesNotice] = []
    carried: str | None = None  # a subject named just before, without a stance yet
    for sentence in _JA_SENTENCES.split(normalized):
        # Most sentences name no subject at all: a substring test spares them the patterns.
        if carried is None and not any(word in sentence for word in _JA_ANCHORS):
            continue
        compact = re.sub(r"\s+", "", sentence)
        if not compact:
            continue
        handed_on = None
        for clause in _JA_CLAUSES.split(compact):
            notice, handed_on = _judge(clause, compact, carried or handed_on)
            if notice is not None:
                found.append(notice)
        # A subject reaches the next sentence only, and only from a heading or a clause that
        # says nothing more about it.
        carried = handed_on
    lowered = normalized.lower()
    if not any(word in lowered for word in _EN_ANCHORS):
        return tuple(found)
    for sentence in _EN_SENTENCES.split(" ".join(lowered.split())):
        if not any(word in sentence for word in _EN_ANCHORS) or _EN_OWN_CONDUCT.search(sentence):
            continue
        for clause in _EN_CLAUSES.split(sentence):
            subject = _EN_SUBJECT.search(clause)
            if subject is None:
                continue
            if _EN_DECLINED.search(clause):
                found.append(SalesNotice("declined", subject.group(), sentence.strip()[:200]))
            elif _EN_WELCOMED.search(clause):
                found.append(SalesNotice("welcomed", subject.group(), sentence.strip()[:200]))
    return tuple(found)


def _judge(
    clause: str, sentence: str, carried: str | None
) -> tuple[SalesNotice | None, str | None]:
    """The notice of one Japanese clause, and the subject it hands on to what follows."""
    if not clause:
        return None, carried
    subject = _JA_SUBJECT.search(clause)
    welcomed = _JA_WELCOMED.search(clause)
    declined = _JA_DECLINED.search(clause)
    if subject is None:
        if declined and carried and not welcomed:
            return SalesNotice("declined", carried, sentence[:200]), None
        return None, None
    if _JA_OWN_CONDUCT.search(clause[: subject.start()]) or (
        subject.group().endswith("提案") and _JA_FEEDBACK.search(clause)
    ):
        return None, None
    if welcomed and (declined is None or welcomed.start() > declined.start()):
        return SalesNotice("welcomed", subject.group(), sentence[:200]), None
    if declined:
        return SalesNotice("declined", subject.group(), sentence[:200]), None
    if _JA_HEADING.search(clause) or clause != sentence or _JA_THIS_FORM.search(sentence):
        return None, subject.group()
    return None, subject.group() if len(clause) <= 30 else None


def detect_refusal(text: str) -> str | None:
    """The sentence of ``text`` that declines sales contact, or None.

    Declining is read for its meaning (:func:`read_sales_notices`): 営業お断り, polite forms
    (「営業目的のお問い合わせはご遠慮ください」), declining proposals, service introductions,
    売り込み or business-alliance offers, or saying they get no reply (「返信いたしかねます」,
    "will not be answered"). A notice that welcomes sales contact (「営業・ご提案もこちらから」)
    is no refusal, even on a page that also says other messages may go unanswered.
    """
    for notice in read_sales_notices(text):
        if notice.stance == "declined":
            return notice.sentence
    return None


# Plain substrings of the lower-cased page: much faster than one big case-insensitive regex,
# and `mikomi formfill classify` runs this on thousands of pages.
_CAPTCHA_MARKERS = (
    (
        "recaptcha",
        (
            "g-recaptcha",
            "recaptcha/api.js",
            "recaptcha/enterprise.js",
            "grecaptcha",
            "google.com/recaptcha",
            "recaptcha.net/recaptcha",
        ),
    ),
    ("hcaptcha", ("h-captcha", "hcaptcha.com")),
    ("turnstile", ("cf-turnstile", "challenges.cloudflare.com/turnstile")),
)
_IMAGE_CAPTCHA = re.compile(
    r"<img[^>]+(?:captcha|securimage|kaptcha|siimage)|name=[\"']?[\w-]*captcha|"
    r"画像認証|画像に表示され|画像の(?:文字|数字)|表示されている(?:文字|数字|英数字)を(?:入力|ご入力)"
)


def detect_captcha(html: str) -> str | None:
    """The kind of CAPTCHA ``html`` carries: "recaptcha", "hcaptcha", "turnstile", "image", or None.

    reCAPTCHA v3 counts too (its script alone, with no widget): the product never submits
    through any CAPTCHA.
    """
    if not html:
        return None
    lowered = html.lower()
    for kind, markers in _CAPTCHA_MARKERS:
        if any(marker in lowered for marker in markers):
            return kind
    if (
        "captcha" in lowered
        or "認証" in lowered
        or "画像" in lowered
        or "表示されている" in lowered
    ) and _IMAGE_CAPTCHA.search(lowered):
        return "image"
    return None
