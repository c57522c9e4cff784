"""The prospect list's keyword index: SQLite's FTS5 table and PostgreSQL's posting blocks.

A keyword term matches a prospect when it is a substring of the prospect's search text (NFKC,
lower case; ``shared.models.prospect_search_text``). On SQLite that is answered by the FTS5
table ``prospect_fts`` (contentless, the ``ascii`` tokenizer, rowid = prospect id), whose
document for a prospect is :func:`document`: for each word of the search text its consecutive
2-character pieces, then its last character alone, and the token ``url`` when the prospect
has a website. A term matches as on PostgreSQL's index (:func:`term_query`): every
2-character piece of it (the bigram matching of CJK search engines); exactly as a substring
when it is one character, only legal-form pieces, or more than eight pieces:

- the exact form of a term of two or more characters is the phrase of its consecutive pieces:
  the phrase occurs exactly when the term is a substring of a word (a word's last-character
  token, one character long, never continues a phrase of pieces into the next word);
- a term of one character is the prefix query ``"c" *``: every occurrence of ``c`` in a word
  either starts a piece or is the word's last character;
- URL有り is ``AND url`` (``url`` is three characters: no piece or character equals it).

The ``ascii`` tokenizer splits only on ASCII spaces and punctuation, so the ASCII punctuation of
names is mapped to private-use characters first (:data:`_PUNCTUATION`), in documents and
queries alike. Triggers on ``prospects`` keep the table in step with every write (insert,
update of the search text or the domain, delete), calling :func:`document` through the SQL
function ``mikomi_fts`` that ``shared.db`` registers on every SQLite connection
(shared/migrations/versions/0008_corporate_number.py creates them).

On PostgreSQL the index is ``prospect_keyword_blocks`` (migration 0010, kept by statement
triggers): for each key (``shared.models.prospect_keys``: a word's 2-character pieces and its
last character, less the legal-form ones) and each block of 1,024 prospect ids, the sorted ids
of the block whose search text has the key, and those of them with a website. A search
intersects the arrays of its keys block by block with intarray's ``&`` (:func:`pg_hits`), so a
count over five million names reads a few thousand short arrays instead of a posting per match
(docs/architecture.md#the-keyword-index). A one-character term is the union of the keys that
start with it; a term of one legal-form character, of only legal-form pieces or of more than
eight pieces is (also) checked as a substring of the search text, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.models import STOP_CHARACTERS, prospect_grams

FTS_TABLE = "prospect_fts"
MAX_PIECES = 8
FUNCTION = "mikomi_fts"
URL_TOKEN = "url"
_PUNCTUATION = {
    code: chr(0xF0000 + code)
    for code in range(128)
    if not chr(code).isalnum() and not chr(code).isspace()
}


def words(text: str) -> list[str]:
    return text.translate(_PUNCTUATION).split()


def document(search_text: str | None, domain: str | None) -> str:
    """The FTS5 document of a prospect (see the module's docstring)."""
    tokens: list[str] = []
    for word in words(search_text or ""):
        tokens.extend([word[i : i + 2] for i in range(len(word) - 1)])
        tokens.append(word[-1])
    if domain is not None:
        tokens.append(URL_TOKEN)
    return " ".join(tokens)


def term_query(term: str) -> str:
    """The FTS5 query of one keyword term (no spaces in it, NFKC lower case), with the
    meaning of PostgreSQL's (:func:`pg_terms`): every piece of the term but the legal-form
    ones (AND); a term of one character, of only legal-form pieces or of more than
    :data:`MAX_PIECES` pieces exactly (a prefix query, a phrase)."""
    mapped = "".join(words(term))
    if len(mapped) == 1:
        return f'"{mapped}" *'
    pieces = [mapped[i : i + 2] for i in range(len(mapped) - 1)]
    useful = sorted(prospect_grams(mapped), key=mapped.index)
    if not useful or len(useful) > MAX_PIECES:
        return '"' + " ".join(pieces) + '"'
    return " AND ".join(f'"{piece}"' for piece in useful)


def match_query(terms: list[str], *, has_url: bool) -> str:
    """The FTS5 query of every term (AND), and of URL有り when ``has_url``."""
    parts = [term_query(term) for term in terms if term]
    if has_url:
        parts.append(URL_TOKEN)
    return " AND ".join(parts)


def sqlite_schema() -> list[str]:
    """The statements that create the table and its triggers (the migration runs them)."""
    doc_new = f"{FUNCTION}(new.search_text, new.domain)"
    doc_old = f"{FUNCTION}(old.search_text, old.domain)"
    delete_old = (
        f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, t) VALUES ('delete', old.id, {doc_old});"
    )
    insert_new = f"INSERT INTO {FTS_TABLE}(rowid, t) VALUES (new.id, {doc_new});"
    return [
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(t, content='', tokenize='ascii', "
        "columnsize=0)",
        f"CREATE TRIGGER prospects_fts_insert AFTER INSERT ON prospects BEGIN {insert_new} END",
        f"CREATE TRIGGER prospects_fts_delete AFTER DELETE ON prospects BEGIN {delete_old} END",
        "CREATE TRIGGER prospects_fts_update AFTER UPDATE OF search_text, domain ON prospects "
        f"BEGIN {delete_old} {insert_new} END",
    ]


# --- PostgreSQL -------------------------------------------------------------------------------

BLOCK_TABLE = "prospect_keyword_blocks"
_LAST_CHARACTER = "\U0010ffff"


@dataclass
class PgTerms:
    """What the terms of a search ask of PostgreSQL's index: the key sources to intersect
    (``("key", k)``: one key; ``("prefix", c)``: every key that starts with ``c``) and the terms
    that must (also) be checked as substrings of the search text."""

    sources: list[tuple[str, str]] = field(default_factory=list)
    substrings: list[str] = field(default_factory=list)


def pg_terms(terms: list[str]) -> PgTerms:
    plan = PgTerms()
    for term in terms:
        if len(term) == 1:
            if term in STOP_CHARACTERS:
                plan.substrings.append(term)
            else:
                plan.sources.append(("prefix", term))
            continue
        useful = sorted(prospect_grams(term), key=term.index)
        plan.sources.extend(("key", key) for key in useful[:MAX_PIECES])
        if not useful or len(useful) > MAX_PIECES:
            plan.substrings.append(term)
    plan.sources = list(dict.fromkeys(plan.sources))
    return plan


def pg_hits(
    sources: list[tuple[str, str]], *, has_url: bool, blocks: tuple[int, int] | None = None
) -> tuple[str, dict[str, Any]]:
    """SQL of ``(block, ids)``: per block, the sorted ids that have every source's keys (and a
    website when ``has_url``), optionally only the blocks in ``blocks`` (first, last); and its
    parameters. ``sources`` must not be empty.

    One scan of the sources' rows grouped by block (a block missing from any source has no
    match), not a join per key: the plan stays the same whatever the planner thinks of the
    table."""
    column = "url_ids" if has_url else "ids"
    params: dict[str, Any] = {"sources": len(sources)}
    in_blocks = ""
    if blocks is not None:
        params["first_block"], params["last_block"] = blocks
        in_blocks = " AND block BETWEEN :first_block AND :last_block"
    parts: list[str] = []
    keys = [key for kind, key in sources if kind == "key"]
    if keys:
        names = [f"k{i}" for i in range(len(keys))]
        params.update(zip(names, keys, strict=True))
        listed = ", ".join(f":{name}" for name in names)
        parts.append(
            f"SELECT block, {column} AS ids FROM {BLOCK_TABLE} WHERE gram IN ({listed}){in_blocks}"
        )
    prefixes = [key for kind, key in sources if kind == "prefix"]
    for i, prefix in enumerate(prefixes):
        params[f"p{i}"], params[f"p{i}_end"] = prefix, prefix + _LAST_CHARACTER
        parts.append(
            f"SELECT block, prospect_ids_union({column}) AS ids FROM {BLOCK_TABLE} "
            f"WHERE gram BETWEEN :p{i} AND :p{i}_end{in_blocks} GROUP BY block"
        )
    sql = (
        "SELECT s.block AS block, prospect_ids_intersect(s.ids) AS ids "
        f"FROM ({' UNION ALL '.join(parts)}) AS s GROUP BY s.block HAVING count(*) = :sources"
    )
    return sql, params
