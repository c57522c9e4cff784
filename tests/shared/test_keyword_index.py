"""The SQLite keyword index (shared/keyword_index.py): kept in step by triggers with every
write, and matching as PostgreSQL's posting blocks do (the same searches on both engines)."""

from __future__ import annotations

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from coordinator.prospects import importer
from coordinator.prospects.search import ProspectQuery, count, search
from shared.db import transaction
from shared.models import Prospect, prospect_keys, prospect_search_text


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
    else:
        # Nothing is left in the posting blocks for the row that is gone, nor under its old name.
        assert _indexed(db) == {
            p.id: prospect_keys(p.search_text) for p in db.scalars(select(Prospect))
        }
    # "Everything" and "everything with a URL" are counted exactly after each kind of write
    # (from the per-prefecture counts the triggers keep).
    assert count(db, ProspectQuery(), None) == 2
    assert count(db, ProspectQuery(has_url=True), None) == 2
    db.execute(update(Prospect).where(Prospect.company == "森山組合").values(domain=None))
    assert count(db, ProspectQuery(has_url=True), None) == 1
    assert count(db, ProspectQuery(), None) == 2
    importer.analyze_tables(lambda: transaction(db))
    assert (count(db, ProspectQuery(), None), count(db, ProspectQuery(has_url=True), None)) == (
        2,
        1,
    )


def _indexed(db: Session) -> dict[int, set[str]]:
    """PostgreSQL: prospect id → its keys in the posting blocks (with a check that each block
    holds only its own ids, sorted, and that the URL ids are the ones with a website)."""
    with_url = set(db.scalars(select(Prospect.id).where(Prospect.domain.is_not(None))))
    keys: dict[int, set[str]] = {}
    for gram, block, ids, url_ids in db.execute(
        text("SELECT gram, block, ids, url_ids FROM prospect_keyword_blocks")
    ):
        assert ids == sorted(set(ids)) and all(pid >> 10 == block for pid in ids)
        assert url_ids == [pid for pid in ids if pid in with_url]
        for pid in ids:
            keys.setdefault(pid, set()).add(gram)
    return keys


def test_the_imports_keys_are_the_models(db: Session, tmp_path, only_this_tests_prospects) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL's triggers cut the keys in SQL; they are exactly prospect_keys's, after an
    import, a registry-style update of names in place and a URL filled in."""
    path = tmp_path / "p.csv"
    path.write_text(
        "company,url,industry,city\n"
        "株式会社サクラ　建設,https://a.example.jp/,建設業,港区\n"
        "(有)A-B ｶﾀｶﾅ商事,,卸売業,\n"
        "合同会社ミライ・テック,https://b.example.jp/,,札幌市 中央区\n"
        "森,,,\n",
        encoding="utf-8",
    )
    job = importer.create_job(db, filename="p.csv", created_by=None)
    db.commit()
    importer.run_import(path, job.id, sessions=lambda: transaction(db), analyze=False)
    prospects = list(db.scalars(select(Prospect)))
    assert len(prospects) == 4 and all(prospect_keys(p.search_text) for p in prospects)
    assert _names(db, "森") == ["森"] and _names(db, "ﾐﾗｲ") == ["合同会社ミライ・テック"]
    if db.get_bind().dialect.name != "postgresql":
        return
    assert _indexed(db) == {p.id: prospect_keys(p.search_text) for p in prospects}
    # The import's batch update (one statement, one trigger run): new names, a website added.
    rows = [
        {"id": p.id, "company": p.company + "北", "search_text": p.search_text + "北",
         "url": "https://c.example.jp/", "domain": f"c{p.id}.example.jp"}
        for p in prospects
    ]  # fmt: skip
    from coordinator.prospects.import_writing import update_rows

    update_rows(db, rows, ("company", "url", "domain"))
    db.expire_all()
    prospects = list(db.scalars(select(Prospect)))
    assert all(p.search_text.endswith("北") and p.domain for p in prospects)
    assert _indexed(db) == {p.id: prospect_keys(p.search_text) for p in prospects}
    assert _names(db, "北", has_url=True) == sorted(p.company for p in prospects)
