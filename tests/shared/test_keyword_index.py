"""The SQLite keyword index (shared/keyword_index.py): kept in step by triggers with every
write, and matching as PostgreSQL's 2-gram conditions do (the same searches on both engines)."""

from __future__ import annotations

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from coordinator.prospects.search import ProspectQuery, count, search
from shared.models import Prospect, ProspectGram, prospect_search_text


def _names(db: Session, keyword: str, **kw: object) -> list[str]:
    q = ProspectQuery(keyword=keyword, per_page=200, **kw)  # type: ignore[arg-type]
    total, rows = search(db, q, None)
    assert total == len(rows) == count(db, q, None)
    return sorted(p.company for p in rows)


def test_keywords_follow_inserts_updates_and_deletes(db: Session) -> None:
    db.execute(delete(ProspectGram))
    db.execute(delete(Prospect))
    db.add_all(
        [
            Prospect(
                company="(株)エー・ビー商会", url="https://ab.example.jp/", domain="ab.example.jp"
            ),
            Prospect(company="有限会社林田", city="港区"),
            Prospect(company="森林組合"),
        ]
    )
    db.flush()
    # ASCII punctuation and a one-character term at the end of a word.
    assert _names(db, "(株)") == ["(株)エー・ビー商会"]
    assert _names(db, "・ビ") == ["(株)エー・ビー商会"]
    assert _names(db, "林") == ["有限会社林田", "森林組合"]
    assert _names(db, "田") == ["有限会社林田"]
    assert _names(db, "商会", has_url=True) == ["(株)エー・ビー商会"]
    assert _names(db, "林", has_url=True) == []
    # A Core update of the name and of the domain, then a delete: the index follows each.
    db.execute(
        update(Prospect)
        .where(Prospect.company == "森林組合")
        .values(
            company="森山組合",
            search_text=prospect_search_text("森山組合", "", "", ""),
            domain="mori.example.jp",
        )
    )
    assert _names(db, "林") == ["有限会社林田"]
    assert _names(db, "組合", has_url=True) == ["森山組合"]
    db.execute(delete(Prospect).where(Prospect.company == "有限会社林田"))
    assert _names(db, "林") == []
    if db.get_bind().dialect.name == "sqlite":
        # Nothing is left in the index for rows that are gone.
        left = db.execute(text("SELECT count(*) FROM prospect_fts WHERE prospect_fts MATCH 'url'"))
        assert left.scalar_one() == 2
        assert db.scalar(select(ProspectGram.gram).limit(1)) is None
