"""The SQLite keyword index (shared/keyword_index.py): kept in step by triggers with every
write, and matching as PostgreSQL's 2-gram conditions do (the same searches on both engines)."""

from __future__ import annotations

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from coordinator.prospects import importer
from coordinator.prospects.search import ProspectQuery, count, search
from shared.db import transaction
from shared.models import Prospect, ProspectGram, prospect_search_text


def _names(db: Session, keyword: str, **kw: object) -> list[str]:
    q = ProspectQuery(keyword=keyword, per_page=200, **kw)  # type: ignore[arg-type]
    total, rows = search(db, q, None)
    assert total == len(rows) == count(db, q, None)
    return sorted(p.company for p in rows)


def test_keywords_follow_inserts_updates_and_deletes(
    db: Session, only_this_tests_prospects: None
) -> None:
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
    # "Everything" and "everything with a URL" are counted exactly after each kind of write
    # (PostgreSQL sums the change rows its triggers keep).
    assert count(db, ProspectQuery(), None) == 2
    assert count(db, ProspectQuery(has_url=True), None) == 2
    db.execute(update(Prospect).where(Prospect.company == "森山組合").values(domain=None))
    assert count(db, ProspectQuery(has_url=True), None) == 1
    assert count(db, ProspectQuery(), None) == 2
    # An import's end folds the change rows into one; the counts stay.
    importer.analyze_tables(lambda: transaction(db))
    assert (count(db, ProspectQuery(), None), count(db, ProspectQuery(has_url=True), None)) == (
        2,
        1,
    )
    if db.get_bind().dialect.name == "postgresql":
        assert db.execute(text("SELECT count(*) FROM prospect_totals")).scalar_one() == 1


def test_the_imports_2_gram_rows_are_the_models(
    db: Session, tmp_path, only_this_tests_prospects
) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's import cuts the 2-gram rows in SQL; they are exactly prospect_grams's."""
    from shared.models import prospect_grams

    path = tmp_path / "p.csv"
    path.write_text(
        "company,url,industry,city\n"
        "株式会社サクラ　建設,https://a.example.jp/,建設業,港区\n"
        "(有)A-B ｶﾀｶﾅ商事,,卸売業,\n"
        "合同会社ミライ・テック,https://b.example.jp/,,札幌市 中央区\n",
        encoding="utf-8",
    )
    job = importer.create_job(db, filename="p.csv", created_by=None)
    db.commit()
    importer.run_import(path, job.id, sessions=lambda: transaction(db), analyze=False)
    for prospect in db.scalars(select(Prospect)):
        stored = set(
            db.scalars(select(ProspectGram.gram).where(ProspectGram.prospect_id == prospect.id))
        )
        expected = prospect_grams(prospect.search_text)
        assert stored == (expected if db.get_bind().dialect.name == "postgresql" else set())
        assert expected  # each row has pieces to compare
