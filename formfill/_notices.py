"""The two reasons to walk away from a form: a 営業お断り notice and a CAPTCHA."""

from __future__ import annotations

import re

from formfill._dom import nfkc

# Words that mean "sales contact" on their own, and words (広告, 宣伝 …) that only do when they
# are about contacting: 「画像の広告への転用を禁止します」 is no sales refusal.
_SALES = (
    r"(?:営業(?!時間|日|所|部|担当|本部|拠点|中|終了|カレンダー)|セールス|売り?込み|勧誘|テレアポ|飛び込み"
    r"|(?:広告|宣伝|販売促進|商品|サービス|製品)(?:の)?(?:目的|ご?案内|ご?提案|ご?連絡|メール|お電話|電話))"
)
_REFUSE = (
    r"(?:お断り|おことわり|ご遠慮|お控え|禁止|固くお断り|受け付けて(?:おり|い)ません|受付して(?:おり|い)ません"
    r"|お受けして(?:おり|い)ません|お受け(?:でき|いたし)かね|お受けできません|対応(?:いたし|し|でき)かね|対応(?:して|いたして)おりません"
    r"|ご?返信(?:いたし|し|でき)かね|ご?返信(?:は|を)?(?:いたし|し)ません|ご?回答(?:いたし|し|でき)かね|ご?返答(?:いたし|し|でき)かね"
    r"|ご?回答(?:は|を)?(?:いたし|し)ません|ご?返答(?:は|を)?(?:いたし|し)ません|ご利用いただけません|ご利用になれません|使用しないで|利用しないで|送らないで|ご送信なさらない)"
)
_REFUSAL_PATTERNS = (
    re.compile(r"(?:営業|セールス|勧誘)(?:の|は|・勧誘は|・セールスは)?お断り"),
    re.compile(_SALES + r"[^。！!\n]{0,40}?" + _REFUSE),
    re.compile(
        r"営業(?:目的|関係|関連)?(?:の|での)?(?:ご連絡|お問い?合わ?せ|メール)?では(?:ない|ありません)"
    ),
    re.compile(
        r"\bno (?:sales|solicitations?|soliciting|cold (?:calls|e-?mails))\b"
        r"|\bsolicitors? (?:are )?(?:not welcome|prohibited)"
        r"|(?:sales|solicitation|marketing|advertising|promotional) (?:inquiries|enquiries|e-?mails|messages|pitches|calls|offers|contacts|requests)"
        r"[^.!\n]{0,30}?(?:not (?:be )?(?:accepted|welcome|answered|responded|tolerated|permitted)|prohibited|declined)"
        r"|(?:we do not|we don't|we will not|we won't) (?:accept|respond to|reply to|answer)[^.!\n]{0,20}?(?:sales|solicit|marketing|advertis)"
        r"|(?:do not|don't|refrain from) (?:use|using|send|sending|submit|submitting|contact|contacting)[^.!\n]{0,40}?(?:sales|solicit|marketing|advertis)"
    ),
)

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


def detect_refusal(text: str) -> str | None:
    """The sentence of ``text`` that refuses sales contact (営業お断り and its variants), or None.

    Matches plain notices (営業お断り, セールスお断り), polite ones
    (「営業目的のお問い合わせはご遠慮ください」, 「営業、勧誘を目的とした本フォームのご利用は固く
    お断りいたします」) and English ones ("no sales solicitations").
    """
    if not text:
        return None
    normalized = nfkc(text)
    compacted = re.sub(r"\s+", "", normalized)
    for pattern in _REFUSAL_PATTERNS[:3]:
        m = pattern.search(compacted)
        if m:
            return _sentence(compacted, m.start(), m.end())
    spaced = " ".join(normalized.lower().split())
    m = _REFUSAL_PATTERNS[3].search(spaced)
    if m:
        return _sentence(spaced, m.start(), m.end())
    return None


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(sep, 0, start) for sep in ("。", "\n", ". ", "!", "！"))
    right_candidates = [i for i in (text.find(sep, end) for sep in ("。", "\n", ". ")) if i >= 0]
    right = min(right_candidates) + 1 if right_candidates else len(text)
    return text[left + 1 : right].strip()[:200]


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
