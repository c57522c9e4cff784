"""Prospect search: every condition, their combinations, paging, exclusions, the list URL."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.prospects import search
from coordinator.prospects.search import ProspectQuery
from formfill import PREFECTURES
from shared.models import Member, MemberContact, Prospect, Reservation, SendItem
from shared.suppression import suppress
from tests.builders import make_bare_reservation

ROWS: list[dict[str, Any]] = [
    # company, domain, industry, prefecture, city, employees, capital
    dict(company="株式会社サクラ建設", domain="sakura.co.jp", industry="建設業", prefecture="東京都",
         city="港区", employees=10, capital=10_000_000),
    dict(company="アオバ商事株式会社", domain="aoba.jp", industry="卸売業", prefecture="東京都",
         city="千代田区", employees=50, capital=30_000_000),
    dict(company="山田工業株式会社", domain="yamada.co.jp", industry="製造業", prefecture="大阪府",
         city="北区", employees=300, capital=100_000_000),
    dict(company="株式会社ミライテック", domain="mirai.com", industry="情報通信業", prefecture="大阪府",
         city="中央区", employees=5, capital=1_000_000),
    dict(company="ヒカリ建設株式会社", domain=None, industry="建設業", prefecture="愛知県",
         city="名古屋市", employees=None, capital=None),
    dict(company="ABC Consulting株式会社", domain="abc.example", industry="コンサルティング",
         prefecture="福岡県", city="博多区", employees=1000, capital=500_000_000),
]  # fmt: skip


@pytest.fixture(autouse=True)
def _only_this_tests_prospects(only_this_tests_prospects: None) -> None:
    """Every test here sees only the prospects it made (tests/coordinator/prospects/conftest.py)."""


@pytest.fixture
def prospects(db: Session) -> dict[str, Prospect]:
    made = {}
    for row in ROWS:
        url = f"https://{row['domain']}/" if row["domain"] else ""
        p = Prospect(url=url, **row)
        db.add(p)
        made[row["company"]] = p
    db.commit()  # a savepoint: a failing request's rollback must not take the rows with it
    return made


@pytest.fixture
def member(db: Session) -> Member:
    m = Member(company_name="検索テスト株式会社")
    db.add(m)
    db.flush()
    return m


def names(db: Session, q: ProspectQuery, member_id: int | None = None) -> list[str]:
    total, rows = search.search(db, q, member_id)
    assert total == search.count(db, q, member_id)
    return [p.company for p in rows]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (ProspectQuery(), [r["company"] for r in ROWS]),
        (ProspectQuery(keyword="建設"), ["株式会社サクラ建設", "ヒカリ建設株式会社"]),
        (ProspectQuery(keyword="ｻｸﾗ"), ["株式会社サクラ建設"]),  # half-width kana: NFKC
        (ProspectQuery(keyword="abc consulting"), ["ABC Consulting株式会社"]),  # case, words AND
        (ProspectQuery(keyword="建設 東京"), []),  # prefecture is not part of the keyword
        (ProspectQuery(keyword="建設 港区"), ["株式会社サクラ建設"]),  # city is
        (ProspectQuery(keyword="情報通信"), ["株式会社ミライテック"]),  # industry is
        (ProspectQuery(keyword="100%"), []),  # LIKE wildcards are literal
        (ProspectQuery(industry=("建設業",)), ["株式会社サクラ建設", "ヒカリ建設株式会社"]),
        (
            ProspectQuery(industry=("建設業", "製造業")),
            ["株式会社サクラ建設", "山田工業株式会社", "ヒカリ建設株式会社"],
        ),
        (ProspectQuery(prefecture=("大阪府",)), ["山田工業株式会社", "株式会社ミライテック"]),
        (
            ProspectQuery(prefecture=("東京都", "福岡県")),
            ["株式会社サクラ建設", "アオバ商事株式会社", "ABC Consulting株式会社"],
        ),
        (
            ProspectQuery(employees_min=10, employees_max=300),
            ["株式会社サクラ建設", "アオバ商事株式会社", "山田工業株式会社"],
        ),
        (ProspectQuery(employees_min=301), ["ABC Consulting株式会社"]),
        (ProspectQuery(employees_max=5), ["株式会社ミライテック"]),
        (
            ProspectQuery(capital_min=30_000_000, capital_max=100_000_000),
            ["アオバ商事株式会社", "山田工業株式会社"],
        ),
        (ProspectQuery(has_url=True), [r["company"] for r in ROWS if r["domain"]]),
        (ProspectQuery(industry=("建設業",), has_url=True), ["株式会社サクラ建設"]),
        (
            ProspectQuery(
                prefecture=("東京都",),
                industry=("卸売業",),
                employees_min=20,
                capital_max=30_000_000,
                has_url=True,
                keyword="アオバ",
            ),
            ["アオバ商事株式会社"],
        ),
        (ProspectQuery(prefecture=("東京都",), industry=("製造業",)), []),
    ],
)
def test_conditions_and_combinations(
    db: Session, prospects: dict[str, Prospect], query: ProspectQuery, expected: list[str]
) -> None:
    assert names(db, query) == expected


def test_paging_is_stable_and_counts_the_whole_result(
    db: Session, prospects: dict[str, Prospect]
) -> None:
    seen = []
    for page in (1, 2, 3):
        total, rows = search.search(db, ProspectQuery(per_page=2, page=page), None)
        assert total == len(ROWS)
        seen.extend(p.company for p in rows)
    assert seen == [r["company"] for r in ROWS]
    assert search.search(db, ProspectQuery(per_page=2, page=4), None) == (len(ROWS), [])


def _item(db: Session, reservation: Reservation, p: Prospect, state: str, token: str) -> SendItem:
    item = SendItem(
        reservation_id=reservation.id,
        member_id=reservation.member_id,
        prospect_id=p.id,
        domain=p.domain,
        url=p.url,
        company=p.company,
        state=state,
        optout_token=token,
    )
    db.add(item)
    db.flush()
    return item


def test_exclusions_are_per_member(
    db: Session, prospects: dict[str, Prospect], member: Member
) -> None:
    other = Member(company_name="別会員")
    db.add(other)
    db.flush()
    sakura, aoba, yamada, mirai = (prospects[r["company"]] for r in ROWS[:4])
    db.add(MemberContact(member_id=member.id, domain="sakura.co.jp", prospect_id=sakura.id))
    reservation = make_bare_reservation(db, member.id, status="approved")
    _item(db, reservation, aoba, "queued", "tok-aoba")
    _item(db, reservation, yamada, "cancelled", "tok-yamada")  # cancelled: not contacted
    suppress(db, "mirai.com", reason="optout")  # global
    suppress(db, "abc.example", reason="ng", member_id=other.id)  # the other member's NG list

    contacted = ProspectQuery(exclude_contacted=True)
    assert names(db, contacted, member.id) == [
        "山田工業株式会社",
        "株式会社ミライテック",
        "ヒカリ建設株式会社",
        "ABC Consulting株式会社",
    ]
    assert names(db, contacted, other.id) == [r["company"] for r in ROWS]

    suppressed = ProspectQuery(exclude_suppressed=True, has_url=True)
    assert names(db, suppressed, member.id) == [
        "株式会社サクラ建設",
        "アオバ商事株式会社",
        "山田工業株式会社",
        "ABC Consulting株式会社",
    ]
    assert names(db, suppressed, other.id) == [
        "株式会社サクラ建設",
        "アオバ商事株式会社",
        "山田工業株式会社",
    ]

    both = ProspectQuery(exclude_contacted=True, exclude_suppressed=True)
    assert names(db, both, member.id) == [
        "山田工業株式会社",
        "ヒカリ建設株式会社",
        "ABC Consulting株式会社",
    ]


def test_select_for_queue_always_needs_a_url_and_skips_contacted_and_suppressed(
    db: Session, prospects: dict[str, Prospect], member: Member
) -> None:
    db.add(MemberContact(member_id=member.id, domain="aoba.jp"))
    suppress(db, "https://www.yamada.co.jp/contact", reason="refused_sales")
    suppress(db, "abc.example", reason="ng", member_id=member.id)
    picked = search.select_for_queue(db, ProspectQuery(page=3, per_page=1), member.id, 10)
    assert [p.domain for p in picked] == ["sakura.co.jp", "mirai.com"]
    assert [p.domain for p in search.select_for_queue(db, ProspectQuery(), member.id, 1)] == [
        "sakura.co.jp"
    ]
    assert search.select_for_queue(db, ProspectQuery(), member.id, 0) == []


# --- the list URL ----------------------------------------------------------------------------


def test_list_url_forms_parse_to_the_same_search() -> None:
    q = ProspectQuery(
        keyword="建設",
        industry=("建設業", "製造業"),
        prefecture=("東京都",),
        employees_min=10,
        has_url=True,
    )
    text = search.to_query_string(q)
    for form in (
        text,
        "?" + text,
        f"/prospects?{text}",
        f"http://127.0.0.1:8000/prospects?{text}",
        f"https://mikomi.example/api/v1/prospects?{text}&page=1",
    ):
        assert search.parse_list_url(form) == q
    assert search.parse_list_url(
        "http://x/prospects?has_url=on&prefecture=東京都&keyword=&employees_max=１,０００"
    ) == ProspectQuery(has_url=True, prefecture=("東京都",), employees_max=1000)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "http://x/reservations?has_url=1",
        "ftp://x/prospects?has_url=1",
        "/prospects?colour=red",
        "has_url=maybe",
        "employees_min=-1",
        "employees_min=10&employees_max=5",
        "per_page=100000",
        "page=0",
        "keyword=" + "あ" * 101,
        "has url=1",
        "javascript:alert(1)",
    ],
)
def test_garbage_list_urls_are_refused_with_a_code(garbage: str) -> None:
    with pytest.raises(AppError) as caught:
        search.parse_list_url(garbage)
    assert caught.value.code == "invalid_list_url"
    assert caught.value.message  # Japanese, for the form


_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
_queries = st.builds(
    ProspectQuery,
    keyword=_text,
    industry=st.lists(_text, max_size=3).map(tuple),
    prefecture=st.lists(st.sampled_from(PREFECTURES), max_size=3).map(tuple),
    employees_min=st.none() | st.integers(0, 10**6),
    capital_min=st.none() | st.integers(0, 10**12),
    has_url=st.booleans(),
    exclude_contacted=st.booleans(),
    exclude_suppressed=st.booleans(),
    page=st.integers(1, 1000),
    per_page=st.integers(1, search.MAX_PER_PAGE),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(q=_queries)
def test_list_url_round_trip(q: ProspectQuery) -> None:
    assert search.parse_list_url(search.to_query_string(q) or "?") == q


# --- the HTTP API ----------------------------------------------------------------------------


def test_api_search_returns_total_items_and_list_url(client, make_user, prospects) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("member")
    resp = client.get(
        "/api/v1/prospects",
        params=[("prefecture", "東京都"), ("has_url", "1"), ("per_page", "1")],
        headers=headers,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 1 and body["pages"] == 2
    assert [i["company"] for i in body["items"]] == ["株式会社サクラ建設"]
    assert body["list_url"].startswith("http") and "/prospects?" in body["list_url"]
    assert "per_page" not in body["list_url"]  # a list is the search, not a page of it
    assert search.parse_list_url(body["list_url"]) == ProspectQuery(
        prefecture=("東京都",), has_url=True
    )


def test_api_search_rejects_bad_conditions_in_japanese(client, make_user) -> None:  # type: ignore[no-untyped-def]
    _, headers = make_user("member")
    resp = client.get("/api/v1/prospects?employees_min=abc", headers=headers)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_search"
    assert "employees_min" in resp.json()["error"]["message"]


def test_api_search_needs_a_login_and_operators_may_search(client, make_user, prospects) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/prospects").status_code == 401
    assert client.get("/api/v1/prospects.csv").status_code == 401
    _, op = make_user("operator")
    assert client.get("/api/v1/prospects", headers=op).json()["total"] == len(ROWS)


def test_csv_export_has_bom_japanese_header_and_quoting(client, make_user, db, prospects) -> None:  # type: ignore[no-untyped-def]
    db.add(
        Prospect(
            company='株式会社"引用",カンマ',
            url="https://quote.jp/",
            domain="quote.jp",
            industry="建設業",
            prefecture="東京都",
            city="港区\n改行",
            employees=1,
        )
    )
    db.add(Prospect(company="=HYPERLINK(1)", industry="建設業", prefecture="東京都"))
    db.flush()
    _, headers = make_user("member")
    resp = client.get("/api/v1/prospects.csv?industry=建設業&per_page=1", headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/csv")
    assert "attachment" in resp.headers["content-disposition"]
    raw = resp.content
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw[3:].decode("utf-8"), newline="")))
    assert rows[0][:5] == ["会社名", "会社名カナ", "URL", "業種", "都道府県"]
    companies = [r[0] for r in rows[1:]]
    # paging is ignored: every match is exported
    assert companies == [
        "株式会社サクラ建設",
        "ヒカリ建設株式会社",
        '株式会社"引用",カンマ',
        "'=HYPERLINK(1)",
    ]
    assert rows[3][5] == "港区\n改行"
    assert b'"\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe""' in raw  # "株式会社"" quoted
    assert raw.count(b"\r\n") >= 5


def test_keyword_is_bigram_matching_and_long_terms_are_exact(db: Session) -> None:
    db.add_all(
        [
            Prospect(company="株式会社サクラ建設"),
            Prospect(company="サクセスクラブ株式会社"),
            Prospect(company="株式会社ネクストソリューションズ"),
        ]
    )
    db.flush()
    # every 2-character piece of the term must be in the name (as CJK search engines match)
    assert names(db, ProspectQuery(keyword="サクラ")) == [
        "株式会社サクラ建設",
        "サクセスクラブ株式会社",
    ]
    assert names(db, ProspectQuery(keyword="サクラ建設")) == ["株式会社サクラ建設"]
    # more than 8 pieces: also checked as an exact substring
    assert names(db, ProspectQuery(keyword="ネクストソリューションズ")) == [
        "株式会社ネクストソリューションズ"
    ]
    assert names(db, ProspectQuery(keyword="ソリューションズネクスト")) == []
    # one character: an exact substring, without the index
    assert names(db, ProspectQuery(keyword="ブ")) == ["サクセスクラブ株式会社"]
