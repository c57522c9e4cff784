"""PostgreSQL's keyword index becomes posting blocks kept by triggers

Revision ID: 0010_keyword_blocks
Revises: 0009_worker_slots
Create Date: 2026-12-04 15:15:00

The 2-gram table (one row per piece and prospect) is replaced by ``prospect_keyword_blocks``:
one row per key and block of 1,024 prospect ids, holding the sorted ids of that block whose
search text has the key (and the ones of them with a website), intersected with intarray's
operators (docs/architecture.md#the-keyword-index). Statement triggers on ``prospects`` keep it
in step with every insert, update and delete, as SQLite's FTS5 triggers do; no application
code writes it. The keys are those of ``shared.models.prospect_keys``: the 2-character pieces
of each word and each word's last character, less the legal-form ones (株式会社 …). If that
function changes, a migration must rebuild the table.

On SQLite the unused (empty) 2-gram table is dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.models import STOP_CHARACTERS, STOP_GRAMS, prospect_grams

revision = "0010_keyword_blocks"
down_revision = "0009_worker_slots"
branch_labels = None
depends_on = None

_STOPS = "{" + ",".join(f'"{key}"' for key in sorted(STOP_GRAMS | STOP_CHARACTERS)) + "}"

# The keys of the rows of {rows} (as gram, id, has_url): substr(word, i, 2) for every position
# of every word gives its pieces and, at the last position, its last character alone. Written
# out in each statement: a SQL function called per row cost five times as much.
_KEYS = (
    "SELECT DISTINCT substr(w.word, i, 2) AS gram, r.id, r.domain IS NOT NULL AS has_url "
    "FROM {rows} AS r "
    "CROSS JOIN LATERAL regexp_split_to_table(r.search_text, '\\s+') AS w(word) "
    "CROSS JOIN LATERAL generate_series(1, char_length(w.word)) AS i "
    "WHERE NOT (substr(w.word, i, 2) = ANY('STOPS'::text[]))WHERE"
)


def _keys(rows: str, where: str = "") -> str:
    return _KEYS.replace("{rows}", rows).replace("STOPS", _STOPS).replace("))WHERE", "))" + where)


# Added keys: one upsert, in key order (concurrent writers lock the rows in the same order).
_ADD = """
  INSERT INTO prospect_keyword_blocks AS b (gram, block, ids, url_ids)
  SELECT k.gram, k.id >> 10, array_agg(k.id ORDER BY k.id),
         coalesce(array_agg(k.id ORDER BY k.id) FILTER (WHERE k.has_url), '{{}}')
  FROM ({keys}) AS k
  GROUP BY 1, 2 ORDER BY 1, 2
  ON CONFLICT (gram, block) DO UPDATE
  SET ids = b.ids | excluded.ids, url_ids = b.url_ids | excluded.url_ids;"""

# Removed keys: the rows are locked in key order first, then the ids taken out.
_REMOVE = """
  PERFORM 1 FROM prospect_keyword_blocks AS b
  WHERE (b.gram, b.block) IN (SELECT k.gram, k.id >> 10 FROM ({keys}) AS k)
  ORDER BY b.gram, b.block FOR UPDATE;
  UPDATE prospect_keyword_blocks AS b SET ids = b.ids - d.ids, url_ids = b.url_ids - d.ids
  FROM (SELECT k.gram, k.id >> 10 AS block, array_agg(k.id) AS ids FROM ({keys}) AS k
        GROUP BY 1, 2) AS d
  WHERE b.gram = d.gram AND b.block = d.block;"""

# An update moves only the prospects whose search text or "has a website" changed.
_CHANGED = (
    " AND r.id IN (SELECT n2.id FROM new_rows AS n2 JOIN old_rows AS o2 USING (id) "
    "WHERE n2.search_text IS DISTINCT FROM o2.search_text "
    "OR (n2.domain IS NULL) <> (o2.domain IS NULL))"
)

_SYNC = f"""CREATE FUNCTION prospect_keyword_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    {_ADD.format(keys=_keys("new_rows"))}
  ELSIF TG_OP = 'DELETE' THEN
    {_REMOVE.format(keys=_keys("old_rows"))}
  ELSE
    {_REMOVE.format(keys=_keys("old_rows", _CHANGED))}
    {_ADD.format(keys=_keys("new_rows", _CHANGED))}
  END IF;
  RETURN NULL;
END $$"""

UPGRADE_PG = [
    "CREATE EXTENSION IF NOT EXISTS intarray",
    # Key order is code-point order whatever the database's collation: a one-character term
    # is the range of keys that start with it.
    "CREATE TABLE prospect_keyword_blocks ("
    ' gram varchar(2) COLLATE "C" NOT NULL, block integer NOT NULL,'
    " ids integer[] NOT NULL, url_ids integer[] NOT NULL, PRIMARY KEY (gram, block))",
    _SYNC,
    # The union of the id arrays of several keys (a one-character term) and the intersection
    # of the arrays of a search's keys, sorted.
    "CREATE AGGREGATE prospect_ids_union(integer[]) "
    "(sfunc = _int_union, stype = integer[], initcond = '{}')",
    "CREATE AGGREGATE prospect_ids_intersect(integer[]) (sfunc = _int_inter, stype = integer[])",
    "INSERT INTO prospect_keyword_blocks (gram, block, ids, url_ids) "
    "SELECT k.gram, k.id >> 10, array_agg(k.id ORDER BY k.id), "
    "coalesce(array_agg(k.id ORDER BY k.id) FILTER (WHERE k.has_url), '{}') "
    f"FROM ({_keys('prospects')}) AS k GROUP BY 1, 2",
    *(
        f"CREATE TRIGGER prospects_keywords_{op_name.lower()} AFTER {op_name} ON prospects "
        f"REFERENCING {tables} FOR EACH STATEMENT EXECUTE FUNCTION prospect_keyword_sync()"
        for op_name, tables in (
            ("INSERT", "NEW TABLE AS new_rows"),
            ("DELETE", "OLD TABLE AS old_rows"),
            ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        )
    ),
    "DROP TABLE prospect_grams",
]

DOWNGRADE_PG = [
    "DROP TRIGGER IF EXISTS prospects_keywords_insert ON prospects",
    "DROP TRIGGER IF EXISTS prospects_keywords_delete ON prospects",
    "DROP TRIGGER IF EXISTS prospects_keywords_update ON prospects",
    "DROP FUNCTION IF EXISTS prospect_keyword_sync()",
    "DROP AGGREGATE IF EXISTS prospect_ids_union(integer[])",
    "DROP AGGREGATE IF EXISTS prospect_ids_intersect(integer[])",
    "DROP TABLE IF EXISTS prospect_keyword_blocks",
]


def _gram_table() -> None:
    op.create_table(
        "prospect_grams",
        sa.Column("gram", sa.String(length=2), nullable=False),
        sa.Column("prospect_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("gram", "prospect_id", name="pk_prospect_grams"),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        op.drop_table("prospect_grams")
        return
    for statement in UPGRADE_PG:
        conn.exec_driver_sql(statement)


def downgrade() -> None:
    conn = op.get_bind()
    _gram_table()
    if conn.dialect.name == "sqlite":
        return
    for statement in DOWNGRADE_PG:
        conn.exec_driver_sql(statement)
    rows = conn.execute(sa.text("SELECT id, search_text FROM prospects ORDER BY id"))
    insert = sa.text("INSERT INTO prospect_grams (gram, prospect_id) VALUES (:g, :p)")
    pairs: list[dict[str, object]] = []
    for pid, search_text in rows:
        pairs.extend({"g": gram, "p": pid} for gram in prospect_grams(search_text or ""))
        if len(pairs) >= 50_000:
            conn.execute(insert, pairs)
            pairs = []
    if pairs:
        conn.execute(insert, pairs)
