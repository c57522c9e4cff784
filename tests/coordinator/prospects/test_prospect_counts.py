"""prospect_counts (migration 0011): the per-prefecture, per-employee-count numbers that count
the list's plain searches stay exact through every kind of write, on both engines."""

from __future__ import annotations

import random

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from coordinator.prospects.search import ProspectQuery, count, search
from shared.models import Prospect, prospect_search_text

PREFECTURES = ("東京都", "大阪府", "北海道")


def _rows(rng: random.Random, n: int, start: int) -> list[dict[str, object]]:
    rows = []
    for i in range(start, start + n):
        domain = f"c{i}.example.jp" if rng.random() < 0.7 else None
        rows.append(
            {
                "company": f"会社{i}",
                "url": f"https://{domain}/" if domain else "",
                "domain": domain,
                "fingerprint": None if domain else f"fp{i}",
                "prefecture": rng.choice(PREFECTURES),
                "employees": rng.choice((None, 0, 1, 5, 10, 50, 300)),
                "search_text": prospect_search_text(f"会社{i}", "", "", ""),
            }
        )
    return rows


def _table(db: Session) -> dict[tuple[str, bool, int], tuple[int, int]]:
    rows = db.execute(
        text("SELECT prefecture, has_employees, employees, total, with_url FROM prospect_counts")
    )
    return {(p, bool(h), e): (t, u) for p, h, e, t, u in rows if t or u}


def _expected(db: Session) -> dict[tuple[str, bool, int], tuple[int, int]]:
    table: dict[tuple[str, bool, int], tuple[int, int]] = {}
    for p in db.scalars(select(Prospect)):
        key = (p.prefecture, p.employees is not None, p.employees or 0)
        total, with_url = table.get(key, (0, 0))
        table[key] = (total + 1, with_url + (p.domain is not None))
    return table


def _brute(db: Session, q: ProspectQuery) -> int:
    def matches(p: Prospect) -> bool:
        low = q.employees_min if q.employees_min is not None else -1
        high = q.employees_max if q.employees_max is not None else 10**9
        in_range = p.employees is not None and low <= p.employees <= high
        return (
            (not q.prefecture or p.prefecture in q.prefecture)
            and (not q.has_url or p.domain is not None)
            and (in_range or (q.employees_min is None and q.employees_max is None))
        )

    return sum(1 for p in db.scalars(select(Prospect)) if matches(p))


QUERIES = [
    ProspectQuery(),
    ProspectQuery(has_url=True),
    ProspectQuery(prefecture=("東京都",), has_url=True),
    ProspectQuery(prefecture=("東京都", "北海道")),
    ProspectQuery(employees_min=0),
    ProspectQuery(employees_max=5, has_url=True),
    ProspectQuery(employees_min=5, employees_max=50, prefecture=("大阪府",), has_url=True),
    ProspectQuery(employees_min=301),
]


def test_counts_follow_every_write(db: Session, only_this_tests_prospects) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    db.execute(insert(Prospect).values(_rows(rng, 60, 0)))  # one statement, many rows
    for row in _rows(rng, 5, 60):  # and single-row statements
        db.execute(insert(Prospect).values(row))
    db.flush()
    assert _table(db) == _expected(db)
    ids = list(db.scalars(select(Prospect.id).order_by(Prospect.id)))
    writes = [
        update(Prospect).where(Prospect.id.in_(ids[:10])).values(prefecture="北海道"),
        update(Prospect).where(Prospect.id.in_(ids[10:20])).values(employees=None),
        update(Prospect).where(Prospect.id.in_(ids[20:30])).values(employees=Prospect.id),
        update(Prospect).where(Prospect.id.in_(ids[30:40])).values(domain=None, url=""),
        update(Prospect).where(Prospect.id.in_(ids[40:45])).values(company_kana="カイシャ"),
        delete(Prospect).where(Prospect.id.in_(ids[45:55])),
    ]
    for write in writes:
        db.execute(write)
        assert _table(db) == _expected(db), write
        for q in QUERIES:
            assert count(db, q, None) == _brute(db, q), q
    # The page of a counted search holds the matching rows, in id order.
    q = ProspectQuery(employees_min=5, has_url=True, per_page=10)
    total, items = search(db, q, None)
    assert total == _brute(db, q) and total > 10
    assert [p.id for p in items] == sorted(p.id for p in items)
    assert all(p.domain and p.employees is not None and p.employees >= 5 for p in items)
