"""Field roles from the words around a control, the way a person reads a form.

Every text is first normalized (NFKC, lower case); identifiers (name, id, class) are split into
words (``yourName2`` → ``your name 2``) so one set of patterns serves labels and attributes.
Rules are ordered: the first rule that matches the nearest text wins, which is how
「会社名」 beats 「名」 and 「メールアドレス（確認）」 beats 「メールアドレス」.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from formfill._types import Role

Part = Literal["last", "first"]

_RULE_SOURCES: tuple[tuple[Role, str], ...] = (
    (
        "captcha",
        r"captcha|画像認証|認証コード|認証文字|画像の(?:文字|数字)|画像に表示|表示されて(?:いる|た)(?:文字|数字|英数字)"
        r"|キャプチャ|セキュリティコード|スパム(?:防止|対策)|\bauth ?code\b|security (?:code|question|check)"
        # The same question in the web's other languages, and sums put to tell people from bots.
        r"|sicherheitscode|sicherheitsüberprüfung|code de sécurité|código de seguridad"
        r"|код безопасности|проверочн|verification code|human verification|image verification"
        r"|are you (?:a )?human|validation du formulaire|z obrázku|с картинки|on the image"
        r"|\d+\s*[+*×x-]\s*\d*\s*=|what is \d+ (?:plus|\+|minus|times)"
        # Questions put to tell people from bots in words: 「ロボットでないことの確認」, quizzes.
        r"|ロボット(?:では|で)?(?:ない|ありません)|ロボット(?:対策|判定|確認)|人間であることの確認"
        r"|kod z obrazka|przepisz kod|código de verificación|codice di verifica|bestätigungscode"
        r"|prüfcode|sicherheitsfrage|controlecode|verificatiecode|kontrollkod|验证码|驗證碼|보안 ?문자"
        r"|введите (?:код|символы)|spam ?(?:check|protection|question)|anti-?spam (?:question|check)"
        r"|スパム(?:防止|対策)の(?:ため|質問)|クイズ|\bquiz\b|not a robot|are you a robot",
    ),
    (
        "honeypot",
        r"空欄のまま|入力しないで|leave (?:this )?(?:field )?(?:empty|blank)|do ?n[o']t fill|if you are (?:a )?human",
    ),
    (
        "email_confirm",
        r"(?:メール|mail|メアド).*(?:確認|再入力|再度|もう一度|confirm|again|retype|re-?enter|verify|\bconf\b|\bcheck\b|\b2\b"
        r"|repeat|wiederhol|bestätig|confirmer|confirmar|conferma|ripeti|herhaal|powtórz|подтвер)"
        r"|(?:確認|confirm|retype|re-?enter|verify|repeat|wiederhol|bestätig|confirmer|confirmar|conferma"
        r"|ripeti|herhaal|powtórz|подтвер)(?:用)?.*(?:メール|mail)|\bre ?mail\b",
    ),
    (
        "email",
        r"メール|mail|メアド|courriel|correo|почт|이메일|e-posta|sähköposti|\be-?post\b|\bepost"
        r"|e-?pošta|posta elettronica|邮箱|邮件|電郵|郵件|信箱|البريد|דוא\"?ל|ηλεκτρονικ",
    ),
    ("fax", r"fax|ファックス|ファクス|ファクシミリ|факс|傳真|传真|팩스"),
    (
        "phone",
        r"電話|\btel\b|telephone|phone|携帯|\bmobile\b|\bdenwa\b|\bkeitai\b|連絡先番号|^ご?連絡先$"
        r"|téléphone|teléfono|telefone|telefon|телефон|telefoon|전화|\bpuhelin"
        # Mobile numbers and the short forms of other languages.
        r"|area code|市外局番|vorwahl|indicatif|\btel(?:no|num|nr)\b|\bmob\b|\bcell|\bhandy\b|\bmobil|\bgsm\b|\btlf\b|\btelf\b|\bfone\b|celular|telemóvel|τηλέφων"
        r"|电话|手机|휴대폰|핸드폰|هاتف|جوال|טלפון|điện thoại|\bponsel\b|โทรศัพท์",
    ),
    (
        "postal_code",
        r"郵便|〒|\bzip|postal|post ?code|\byubin|\byuubin|\bplz\b|postleitzahl|code postal"
        r"|código postal|codigo postal|почтовый индекс|postnummer|\bpostnr\b|^cap\b|kod pocztowy"
        r"|\bpsč|postinumero|irányítószám|posta kodu|ταχυδρομικ|邮编|邮政编码|郵遞區號|우편번호|\bnpa\b",
    ),
    (
        "other",
        r"\bcountry\b|\bpays\b|\bland\b|\bpaís\b|\bpais\b|\bpaese\b|\bстрана\b|\bkraj\b|\bülke"
        r"|国名|国・地域|お住まいの国|\bnationality\b",
    ),
    (
        "prefecture",
        r"都道府県|prefecture|\bpref\b|\bstate\b|\btodofuken\b|\bken\b|\bprovince\b|provincia"
        r"|provincie|\bcounty\b|bundesland|\bestado\b(?! civil)|województwo|\bregion\b|\bcanton\b",
    ),
    (
        "city",
        r"市区町村|市町村|区市町村|市区郡|\bcity\b|\btown\b|\bshikuchoson\b|\bville\b|ciudad"
        r"|città|\bгород|\bstadt\b|\bort\b|miasto|cidade|woonplaats|\bplaats\b|kaupunki|paikkakunta"
        r"|\bměsto|\bmesto\b|\bgrad\b|şehir|πόλη|城市|localidad|località|\bcomune\b|miejscowo"
        r"|postort|poststed|\blocality\b|\bsuburb\b",
    ),
    (
        "building",
        r"建物|ビル名|マンション|building|apartment|\bsuite\b|\bapt\b|号室|部屋番号|address ?(?:line )?2|\bbldg\b|\btatemono\b|\baddr ?2\b",
    ),
    (
        "address",
        r"住所|所在地|番地|address|町名|\bstreet\b|\baddr\b|\bjusho\b|\bjuusho\b|\badresse\b"
        r"|dirección|direccion|indirizzo|\bадрес|endereço|endereco|주소|anschrift|straße|strasse"
        r"|\badres\b|\badresa\b|osoite|\bmorada\b|\bulica\b|διεύθυνση|地址|العنوان|כתובת|địa chỉ"
        r"|\balamat\b",
    ),
    (
        "url",
        r"url|ホームページ|webサイト|ウェブサイト|web ?site|homepage|\bhp\b|サイトアドレス|サイトのアドレス|\bweb\b"
        # A link asked for, in words or by an example address; the web's other languages.
        r"|\bwww\b|https?://|site (?:web|internet)|sitio web|sito web|webseite|internetseite"
        r"|webbplats|hjemmeside|nettside|kotisivu|strona (?:www|internetowa)|网站|網站|웹사이트",
    ),
    (
        "company",
        r"会社|企業|法人|貴社|御社|団体|組織|社名|屋号|店名|店舗名|学校名|病院名|施設名|事業者名"
        r"|company|organi[sz]ation|corporat|\bfirm\b|business name|\bcorp\b|\bkaisha\b|\bkigyo\b|\bshamei\b|\bsyamei\b|\borg\b"
        r"|société|entreprise|empresa|azienda|компани|организац|bedrijf|회사|şirket|unternehmen"
        r"|\bfirma\b|\bfirmy\b|firmenname|společnost|spoločnosť|yritys|företag|virksomhed|\bcég"
        r"|εταιρ|公司|\bditta\b|perusahaan|công ty|organisasjon|organizace|organizacja",
    ),
    (
        "department",
        r"部署|所属|部門|部課|事業部|department|division|\bdept\b|\bbusho\b|\bsection\b",
    ),
    ("position", r"役職|職位|肩書|job ?title|\bposition\b|\byakushoku\b"),
    (
        "name",
        r"名前|氏名|芳名|担当者|姓名|おなまえ|\bname\b|full ?name|\bnamae\b|\bshimei\b|contact person|\bauthor\b|\bonamae\b"
        r"|\bnom\b|prénom|\bnombre\b|\bnome\b|\bnaam\b|imię|jméno|příjmení|\bимя\b|фамилия|\bфио\b"
        r"|\bnavn\b|\bnamn\b|이름|\bisim\b|vorname|nachname|apellido|cognome|\bnimi\b"
        # Given and family names of the web's other languages, and its full names.
        r"|nazwisko|voornaam|achternaam|förnamn|efternamn|fornavn|efternavn|etternavn|etunimi"
        r"|sukunimi|\bnume\b|prenume|sobrenome|\bmeno\b|priezvisko|\bime\b|prezime|\bnév\b"
        r"|vezetéknév|keresztnév|soyad|adınız|όνομα|επώνυμο|名字|성명|성함|الاسم|\bשם\b|họ (?:và )?tên"
        r"|\bnama\b|ชื่อ|नाम"
        # Identifiers written as one word: ``yourname``, ``sendername``, ``fullname``.
        r"|\b(?:your|sender|contact|visitor|author|customer|client)name\b",
    ),
    (
        "name_kana",
        r"フリガナ|ふりがな|カナ|ヨミ|よみがな|\bkana\b|furigana|\byomi\b|\bruby\b|hurigana|\bfuri\b|^セイ$|^メイ$",
    ),
    (
        "subject",
        r"件名|題名|タイトル|表題|subject|\btitle\b|\bkenmei\b|\bsujet\b|betreff|asunto|oggetto"
        r"|\bтема\b|onderwerp|\btemat\b|předmět|assunto|主题|제목|\bkonu\b|\bemne\b|ämne|\baihe\b"
        # French 「Objet」, Romanian, Indonesian, Hungarian, Greek, Chinese, Vietnamese, Hebrew, Arabic.
        r"|\bobjet\b|\bsubiect|\bsubjek|\bperihal\b|\btárgy|θέμα|主旨|標題|tiêu đề|נושא|الموضوع"
        # German 「Thema」, Slavic 「Predmet/Zadeva/Tema」, Catalan, Baltic, Thai, Persian, Hindi, Malay.
        r"|\bthema\b|\bpredmet\b|\bzadeva\b|\btema\b|\btemats\b|\bteema\b|assumpte|หัวข้อ|موضوع"
        r"|विषय|\btajuk\b|chủ đề|\bregarding\b|\bsubj\b",
    ),
    (
        "inquiry_type",
        r"種別|種類|区分|カテゴリ|項目|用件|目的|category|(?<!please )\btype\b(?! ?(?:your|here|in|the|a|an)\b)|\btopic\b|purpose|reason|\bkind\b|\bshubetsu\b|\bsyubetsu\b|\byouken\b",
    ),
    (
        "message",
        r"内容|本文|メッセージ|質問|相談|要望|備考|詳細|意見|コメント|問い?合わ?せ|要件|ご依頼"
        r"|message|inquiry|enquiry|comment|\bbody\b|content|detail|question|\bmsg\b|\bnaiyou?\b|\btoiawase\b|\bremarks?\b|\bbiko\b|\bnote\b|\brequest\b"
        r"|nachricht|mensaje|mensagem|messaggio|сообщени|bericht|wiadomo|zpráva|메시지|\bmesaj"
        r"|besked|meddelande|viesti|kommentar|commentaire|comentario|commento|комментари|anfrage"
        r"|üzenet|poruka|správa|\bvraag\b|opmerking|mitteilung|anliegen|meddelelse|melding|\bdotaz"
        r"|treść|ваш вопрос|μήνυμα|留言|رسالة|הודעה|nội dung|\bpesan\b|consulta|\bdemande\b|feedback"
        r"|how can we help",
    ),
)
_RULES: tuple[tuple[Role, re.Pattern[str]], ...] = tuple(
    (role, re.compile(pattern)) for role, pattern in _RULE_SOURCES
)

# Words containing 名 that are not the given name: they must never make a field first_name.
_NA_COMPOUNDS = re.compile(
    r"姓名|氏名|名前|名称|名刺|名義|名簿|署名|件名|題名|品名|社名|屋号名?|"
    r"(?:会社|企業|部署|担当者?|団体|法人|貴社|御社|建物|ビル|学校|店舗?|施設|病院|役職|商品|物件|案件|サイト|ファイル|代表者|組織|事業者|部門|マンション)名"
)
_LAST = re.compile(
    r"姓|氏|苗字|名字|セイ|せい|\blast\b|\bfamily\b|\bsurname\b|\bsei\b|\blname\b|lastname|familyname|\bmyoji\b"
    r"|nachname|apellido|cognome|фамилия|příjmení|nazwisko|achternaam|efternamn|efternavn|etternavn"
    r"|sukunimi|sobrenome|priezvisko|prezime|vezetéknév|soyad|επώνυμο"
)
_FIRST = re.compile(
    r"名|メイ|めい|\bfirst\b|\bgiven\b|\bmei\b|\bfname\b|firstname|givenname|forename|prénom"
    r"|vorname|jméno|voornaam|förnamn|fornavn|etunimi|prenume|keresztnév|imię"
)
_KANA = re.compile(
    r"フリガナ|ふりがな|カナ|かな|ヨミ|よみ|\bkana\b|furigana|\byomi\b|\bruby\b|hurigana|\bfuri\b|セイ|メイ|せい|めい"
)
_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309f\u30fc\s・]+$")
_KATAKANA_ONLY = re.compile(r"^[\u30a0-\u30ff\u30fc\s・]+$")

_AUTOCOMPLETE: dict[str, Role] = {
    "organization": "company",
    "organization-title": "position",
    "name": "name",
    "family-name": "last_name",
    "given-name": "first_name",
    "email": "email",
    "tel": "phone",
    "tel-national": "phone",
    "tel-area-code": "phone_part",
    "tel-local": "phone_part",
    "tel-local-prefix": "phone_part",
    "tel-local-suffix": "phone_part",
    "address-level3": "address",
    "address-line3": "building",
    "postal-code": "postal_code",
    "address-level1": "prefecture",
    "address-level2": "city",
    "address-line1": "address",
    "street-address": "address",
    "address-line2": "building",
    "url": "url",
}

_CAMEL = re.compile(r"([a-z])([A-Z])")
_NON_WORD = re.compile(r"[^0-9a-z\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef〒]+")
_DIGIT_EDGE = re.compile(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])")


def ident_words(value: str) -> str:
    """``your_Name2`` → ``your name 2``: identifiers as words for the same patterns."""
    value = _CAMEL.sub(r"\1 \2", value).lower()
    value = _NON_WORD.sub(" ", value)
    return " ".join(_DIGIT_EDGE.sub(" ", value).split())


def compact(text: str) -> str:
    """Text without spaces, for Japanese patterns that span inline elements."""
    return text.replace(" ", "")


_CITY_TOO = re.compile(r"\bcity\b|\btown\b")
_WEB_TOO = re.compile(r"url|web ?site|homepage|ホームページ|\bweb\b|\bwww\b|サイト")


# Labels, row headers and names repeat across the fields of a page and across pages: cached.
@lru_cache(maxsize=8192)
def role_from_text(text: str) -> Role | None:
    """The first role whose pattern matches ``text`` (normalized), or None."""
    if not text:
        return None
    # Run together only where words may be split by inline elements: Japanese and Chinese text.
    joined = compact(text) if has_cjk(text) else text
    for role, pattern in _RULES:
        if pattern.search(text) or (joined != text and pattern.search(joined)):
            if role == "building" and re.search(r"住所|番地", text):
                return "address"
            if role in ("prefecture", "other") and _CITY_TOO.search(text):
                return "city"  # 「Location (City/State)」: one box for a place, not a state list
            if role == "address" and _WEB_TOO.search(text):
                return "url"  # 「Website address」, 「Web address」: a link, not where one lives
            return role
    return None


def part_from_text(text: str) -> Part | None:
    """Which half of a split name ``text`` designates (姓/セイ/last → last, 名/メイ → first)."""
    if not text:
        return None
    stripped = _NA_COMPOUNDS.sub("", compact(text) if has_cjk(text) else text)
    last = bool(_LAST.search(stripped))
    first = bool(_FIRST.search(stripped))
    if last and not first:
        return "last"
    if first and not last:
        return "first"
    if last and first:
        # 「姓（セイ）」 and 「名（メイ）」 both carry a reading; the first marker decides.
        m_last = _LAST.search(stripped)
        m_first = _FIRST.search(stripped)
        if m_last and m_first:
            return "last" if m_last.start() < m_first.start() else None
    return None


def has_kana_marker(text: str) -> bool:
    """Whether ``text`` asks for a reading (フリガナ, ふりがな, カナ, セイ/メイ, kana …)."""
    return bool(text) and bool(_KANA.search(text))


def kana_script_of(texts: list[str], placeholder: str) -> str | None:
    """The kana script a field asks for: "hiragana", "katakana" or None (unstated)."""
    joined = " ".join(texts)
    if re.search(r"ひらがな|平仮名", joined):
        return "hiragana"
    if re.search(r"カタカナ|片仮名|全角カナ", joined):
        return "katakana"
    if re.search(r"ふりがな|よみがな|せい|めい", joined):
        return "hiragana"
    if re.search(r"フリガナ|カナ|ヨミ|セイ|メイ", joined):
        return "katakana"
    sample = placeholder.replace("例", "").strip(" :：)）(（")
    if sample and _HIRAGANA_ONLY.match(sample):
        return "hiragana"
    if sample and _KATAKANA_ONLY.match(sample):
        return "katakana"
    return None


def is_kana_sample(placeholder: str) -> bool:
    """Whether a placeholder's example is written in kana only (a reading field)."""
    sample = re.sub(r"^(?:例|例えば|ex|e\.g\.)\s*[:：)）.]?\s*", "", placeholder.strip())
    return bool(sample) and bool(_HIRAGANA_ONLY.match(sample) or _KATAKANA_ONLY.match(sample))


def role_from_autocomplete(value: str) -> Role | None:
    """The role an ``autocomplete`` token names (the page author's own statement)."""
    for token in value.lower().split():
        role = _AUTOCOMPLETE.get(token)
        if role:
            return role
    return None


def has_cjk(text: str) -> bool:
    """Whether ``text`` holds Japanese or Chinese characters (kana, kanji, full-width marks)."""
    return any("\u3000" <= ch <= "\u9fff" for ch in text)


_NO_HYPHEN = re.compile(
    r"ハイフン(?:\(-\))?(?:なし|無し|不要|を?除|抜き|を?入れず|を?含めず|を?含まず|は不要|無しで|なしで)"
    r"|ハイフン.{0,8}(?:不要|なし|無し|除いて|入れずに)|[-ー－]\s*(?:なし|無し|不要)|「-」|数字のみ|数字だけ|(?:7|10|11|10～11|10~11)桁"
    r"|no hyphens?|without (?:hyphens?|dashes)|digits only|numbers only"
)
_DIGITS_PATTERN = re.compile(r"^\^?(?:\\d|\[0-9\]|\[\\d\])(?:[*+]|\{\d+(?:,\d*)?\})\$?$")


def value_hints(
    role: Role,
    texts: list[str],
    placeholder: str,
    maxlength: int | None,
    pattern: str,
    input_type: str,
    classes: str,
) -> frozenset[str]:
    """Format hints for a field: no_hyphen, zenkaku, hankaku, hiragana, katakana, digits."""
    joined = " ".join(texts)
    joined_compact = compact(joined)
    hints: set[str] = set()
    cls = " " + ident_words(classes) + " "
    # 「全角カナ」 asks for katakana, which is full-width anyway: it is no 全角 demand.
    zen_text = re.sub(r"全角(?:カタ)?カナ", "", joined_compact)
    if "全角" in zen_text or " zen " in cls or " zenkaku " in cls:
        hints.add("zenkaku")
    if (
        "半角" in joined_compact
        or " hankaku " in cls
        or " han " in cls
        or " hankana " in cls
        or " han kana " in cls
    ):
        hints.add("hankaku")
    if role in ("phone", "phone_part", "fax", "postal_code", "postal_code_part"):
        ph = placeholder.replace(" ", "")
        if (
            _NO_HYPHEN.search(joined_compact)
            or _NO_HYPHEN.search(joined)
            or pattern
            and _DIGITS_PATTERN.match(pattern.strip())
            or input_type == "number"
            or ph.isdigit()
            and len(ph) >= 7
            or role == "phone"
            and maxlength is not None
            and maxlength <= 11
            or role == "postal_code"
            and maxlength is not None
            and maxlength <= 7
        ):
            hints.add("no_hyphen")
    if role in (
        "name_kana",
        "last_name_kana",
        "first_name_kana",
        "company_kana",
    ):
        script = kana_script_of(texts, placeholder)
        if script:
            hints.add(script)
        if re.search(r"半角カナ|半角カタカナ", joined_compact) or " hankana " in cls:
            hints.add("hankaku")
        else:
            hints.discard("hankaku")
    return frozenset(hints)
