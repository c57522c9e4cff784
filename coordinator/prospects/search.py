"""Prospect search: the conditions of docs/rules.md#prospects, the list URL (a saved search)
and its queries.

A list URL is the query string of a search; :func:`parse_list_url` and
:func:`to_query_string` are exact inverses, so a reservation can store the string and get back
the same search at any time.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Select,
    TextClause,
    and_,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    union,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from shared import keyword_index
from shared.enums import ItemState
from shared.models import (
    MemberContact,
    Prospect,
    SendItem,
    Suppression,
)

__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PER_PAGE",
    "ProspectQuery",
    "count",
    "conditions",
    "excluded_domains",
    "keyword_terms",
    "parse_list_url",
    "parse_params",
    "search",
    "select_for_queue",
    "to_query_string",
]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
MAX_KEYWORD_LENGTH = 100
MAX_KEYWORD_TERMS = 5
MAX_CHOICES = 100  # industries or prefectures in one search
MAX_PAGE = 1_000_000

_TRUE = frozenset({"1", "true", "on", "yes"})
_FALSE = frozenset({"0", "false", "off", "no"})
_INT_FIELDS = ("employees_min", "employees_max", "capital_min", "capital_max")
_BOOL_FIELDS = ("has_url", "exclude_contacted", "exclude_suppressed")
_LIST_FIELDS = ("industry", "prefecture")
KNOWN_PARAMS = frozenset(
    {"keyword", *_LIST_FIELDS, *_INT_FIELDS, *_BOOL_FIELDS, "page", "per_page"}
)
_LIST_PATH_ENDS = ("prospects", "prospects.csv")


def _clean_choices(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        text = unicodedata.normalize("NFKC", str(value)).strip()
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


@dataclass(frozen=True)
class ProspectQuery:
    """One search of the prospect list. Lists are kept as tuples (order kept, duplicates
    dropped) so equal searches compare equal."""

    keyword: str = ""
    industry: tuple[str, ...] = field(default=())
    prefecture: tuple[str, ...] = field(default=())
    employees_min: int | None = None
    employees_max: int | None = None
    capital_min: int | None = None
    capital_max: int | None = None
    has_url: bool = False
    exclude_contacted: bool = False
    exclude_suppressed: bool = False
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    def __post_init__(self) -> None:
        keyword = " ".join(unicodedata.normalize("NFKC", self.keyword or "").split())
        object.__setattr__(self, "keyword", keyword)
        object.__setattr__(self, "industry", _clean_choices(self.industry or ()))
        object.__setattr__(self, "prefecture", _clean_choices(self.prefecture or ()))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def without_paging(self) -> ProspectQuery:
        return replace(self, page=1, per_page=DEFAULT_PER_PAGE)


# --- parsing ---------------------------------------------------------------------------------


def _invalid(code: str, message: str, field_name: str | None = None) -> AppError:
    return AppError(code, message, field=field_name)


def _parse_int(name: str, raw: str, code: str) -> int:
    text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
    if not re.fullmatch(r"\d{1,15}", text):
        raise _invalid(code, f"検索条件 {name} は0以上の整数で指定してください（{raw[:30]}）", name)
    return int(text)


def _parse_bool(name: str, raw: str, code: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _invalid(code, f"検索条件 {name} は 1 または 0 で指定してください（{raw[:30]}）", name)


def parse_params(
    pairs: Iterable[tuple[str, str]], *, code: str = "invalid_search"
) -> ProspectQuery:
    """Build a search from ``(name, value)`` pairs (a query string or form); empty values are
    ignored, unknown names and bad values raise :class:`AppError` with ``code``."""
    values: dict[str, Any] = {}
    lists: dict[str, Any] = {name: [] for name in _LIST_FIELDS}
    for raw_name, raw_value in pairs:
        name = raw_name.strip()
        value = raw_value.strip()
        if name not in KNOWN_PARAMS:
            raise _invalid(code, f"検索条件 {name[:30]} は使えません", name[:30])
        if value == "":
            continue
        if name in _LIST_FIELDS:
            lists[name].append(value)
        elif name in _INT_FIELDS or name in ("page", "per_page"):
            values[name] = _parse_int(name, value, code)
        elif name in _BOOL_FIELDS:
            values[name] = _parse_bool(name, value, code)
        else:  # keyword
            if len(value) > MAX_KEYWORD_LENGTH:
                raise _invalid(
                    code, f"キーワードは{MAX_KEYWORD_LENGTH}文字以内で指定してください", name
                )
            values[name] = value
    for name in _LIST_FIELDS:
        if len(lists[name]) > MAX_CHOICES:
            raise _invalid(code, f"検索条件 {name} は{MAX_CHOICES}件までです", name)
    for low, high, label in (
        ("employees_min", "employees_max", "従業員数"),
        ("capital_min", "capital_max", "資本金"),
    ):
        if low in values and high in values and values[low] > values[high]:
            raise _invalid(code, f"{label}の下限が上限を超えています", low)
    page = values.get("page", 1)
    if not 1 <= page <= MAX_PAGE:
        raise _invalid(code, "ページ番号が正しくありません", "page")
    per_page = values.get("per_page", DEFAULT_PER_PAGE)
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise _invalid(code, f"1ページの件数は1〜{MAX_PER_PAGE}件で指定してください", "per_page")
    return ProspectQuery(**values, **lists)


def parse_list_url(text: str) -> ProspectQuery:
    """A list URL (``http://host/prospects?has_url=1&…``), a path with a query, or a bare query
    string → the search. Anything else raises ``AppError("invalid_list_url")``."""
    bad = AppError(
        "invalid_list_url",
        "リストURLが正しくありません。見込客リスト一覧で検索し「リストURL」をコピーしてください",
        field="list_url",
    )
    raw = (text or "").strip()
    if not raw or len(raw) > 10_000 or any(ch.isspace() for ch in raw):
        raise bad
    query = raw
    if "?" in raw or raw.startswith(("http://", "https://", "/")):
        parts = urlsplit(raw)
        if parts.scheme not in ("", "http", "https"):
            raise bad
        path = parts.path.rstrip("/")
        if path and not path.endswith(_LIST_PATH_ENDS):
            raise bad
        query = parts.query
    elif "=" not in raw:
        raise bad
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise bad from None
    try:
        return parse_params(pairs, code="invalid_list_url")
    except AppError as exc:
        raise AppError(
            "invalid_list_url", f"リストURLが正しくありません：{exc.message}", field="list_url"
        ) from None


def to_query_string(q: ProspectQuery) -> str:
    """The canonical query string of ``q``: defaults left out, names in a fixed order."""
    pairs: list[tuple[str, str]] = []
    if q.keyword:
        pairs.append(("keyword", q.keyword))
    pairs.extend(("industry", value) for value in q.industry)
    pairs.extend(("prefecture", value) for value in q.prefecture)
    for name in _INT_FIELDS:
        value = getattr(q, name)
        if value is not None:
            pairs.append((name, str(value)))
    for name in _BOOL_FIELDS:
        if getattr(q, name):
            pairs.append((name, "1"))
    if q.page != 1:
        pairs.append(("page", str(q.page)))
    if q.per_page != DEFAULT_PER_PAGE:
        pairs.append(("per_page", str(q.per_page)))
    return urlencode(pairs)


# --- queries ---------------------------------------------------------------------------------


def keyword_terms(keyword: str) -> list[str]:
    """The words of a keyword (AND), normalized the way ``prospects.search_text`` is."""
    words = unicodedata.normalize("NFKC", keyword).lower().split()
    return list(dict.fromkeys(words))[:MAX_KEYWORD_TERMS]


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class KeywordMatch(ColumnElement[bool]):
    """The keyword terms (AND) of a search, and URL有り with them: on SQLite one FTS5 query
    of the keyword index, on PostgreSQL the ids of its posting blocks (both:
    shared/keyword_index.py), each term of only legal-form pieces (and on PostgreSQL each term
    of one legal-form character or more than eight pieces) also checked as a substring."""

    type = Boolean()
    inherit_cache = False  # the terms are in the SQL: statements with them are not cached

    def __init__(self, terms: list[str], *, has_url: bool) -> None:
        self.terms = terms
        self.has_url = has_url


def _hits_text(
    plan: keyword_index.PgTerms,
    has_url: bool,
    outer: str,
    *,
    blocks: tuple[int, int] | None = None,
    unique: bool = False,
) -> TextClause:
    """PostgreSQL: ``outer`` (SQL with ``{hits}``: the per-block ids of the index) as text with
    its parameters (``unique``: inside a bigger statement)."""
    sql, params = keyword_index.pg_hits(plan.sources, has_url=has_url, blocks=blocks)
    binds = [bindparam(name, value, unique=unique) for name, value in params.items()]
    return text(outer.format(hits=sql)).bindparams(*binds)


@compiles(KeywordMatch)
def _compile_blocks(element: KeywordMatch, compiler: Any, **kw: Any) -> str:
    plan = keyword_index.pg_terms(element.terms)
    where: list[ColumnElement[bool]] = [
        Prospect.search_text.like(_like_pattern(term), escape="\\") for term in plan.substrings
    ]
    if plan.sources:
        hits = _hits_text(
            plan, element.has_url, "SELECT unnest(h.ids) AS id FROM ({hits}) AS h", unique=True
        )
        where.insert(0, Prospect.id.in_(hits.columns(column("id")).subquery().select()))
    return str(compiler.process(and_(*where), **kw))


@compiles(KeywordMatch, "sqlite")
def _compile_fts(element: KeywordMatch, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(Prospect.id.in_(_fts_ids(element.terms, element.has_url)), **kw))


def _fts_ids(terms: list[str], has_url: bool) -> Select[Any]:
    query = keyword_index.match_query(terms, has_url=has_url)
    return select(_FTS.c.rowid).where(_FTS_MATCH.op("MATCH")(literal(query)))


_FTS = table(keyword_index.FTS_TABLE, column("rowid"))
_FTS_MATCH = literal_column(keyword_index.FTS_TABLE)


def _keyword_only(db: Session, q: ProspectQuery) -> bool:
    """A search of keyword terms (and URL有り) only, that the keyword index answers alone (its
    triggers keep it exactly in step with the table): on SQLite always, on PostgreSQL when
    no term must be checked as a substring."""
    if not q.keyword or q.industry or q.prefecture:
        return False
    if any(getattr(q, name) is not None for name in _INT_FIELDS):
        return False
    if db.get_bind().dialect.name == "sqlite":
        return True
    plan = keyword_index.pg_terms(keyword_terms(q.keyword))
    return bool(plan.sources) and not plan.substrings


def _block_counts(db: Session, q: ProspectQuery) -> list[tuple[int, int]]:
    """PostgreSQL: (block, matches) of a keyword-only search, in block order."""
    outer = "SELECT h.block, icount(h.ids) FROM ({hits}) AS h ORDER BY h.block"
    rows = db.execute(
        _hits_text(keyword_index.pg_terms(keyword_terms(q.keyword)), q.has_url, outer)
    )
    return [(int(block), int(n)) for block, n in rows if n]


def _keyword_total(db: Session, q: ProspectQuery) -> int:
    if db.get_bind().dialect.name == "sqlite":
        ids = _fts_ids(keyword_terms(q.keyword), q.has_url).subquery()
        return int(db.execute(select(func.count()).select_from(ids)).scalar_one())
    return sum(n for _, n in _block_counts(db, q))


def _keyword_search(db: Session, q: ProspectQuery) -> tuple[int, list[int]]:
    """(total, the ids of ``q``'s page in id order) of a keyword-only search without
    exclusions, from the keyword index alone."""
    terms = keyword_terms(q.keyword)
    if db.get_bind().dialect.name == "sqlite":
        page = _fts_ids(terms, q.has_url).order_by(_FTS.c.rowid).offset(q.offset).limit(q.per_page)
        return _keyword_total(db, q), list(db.scalars(page))
    # The blocks that hold the page, from the per-block counts; then their ids.
    counts = _block_counts(db, q)
    total = sum(n for _, n in counts)
    seen, first, last, skip = 0, None, None, 0
    for block, n in counts:
        if first is None and seen + n > q.offset:
            first, skip = block, q.offset - seen
        seen += n
        if first is not None:
            last = block
            if seen >= q.offset + q.per_page:
                break
    if first is None or last is None:
        return total, []
    outer = "SELECT h.ids FROM ({hits}) AS h ORDER BY h.block"
    plan = keyword_index.pg_terms(terms)
    arrays = db.execute(_hits_text(plan, q.has_url, outer, blocks=(first, last)))
    ids = [pid for (array,) in arrays for pid in array]
    return total, ids[skip : skip + q.per_page]


def excluded_domains(
    member_id: int | None, *, contacted: bool, suppressed: bool
) -> Select[Any] | None:
    """The domains a search of ``member_id`` leaves out: contacted by this member (a contact
    record, or any item of this member that was not cancelled) and/or suppressed (the global
    list and this member's NG list). Small sets next to the prospect list."""
    parts: list[Select[Any]] = []
    if contacted and member_id is not None:
        parts.append(select(MemberContact.domain).where(MemberContact.member_id == member_id))
        parts.append(
            select(SendItem.domain).where(
                SendItem.member_id == member_id, SendItem.state != ItemState.CANCELLED.value
            )
        )
    if suppressed:
        scope: ColumnElement[bool] = Suppression.member_id.is_(None)
        if member_id is not None:
            scope = or_(scope, Suppression.member_id == member_id)
        parts.append(select(Suppression.domain).where(scope))
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return union(*parts)  # type: ignore[return-value]


def _exclusion(q: ProspectQuery, member_id: int | None, for_queue: bool) -> Select[Any] | None:
    return excluded_domains(
        member_id,
        contacted=q.exclude_contacted or for_queue,
        suppressed=q.exclude_suppressed or for_queue,
    )


def conditions(
    q: ProspectQuery,
    member_id: int | None,
    *,
    for_queue: bool = False,
    exclusions: bool = True,
    in_id_order: bool = False,
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of ``q`` (``for_queue`` forces URL有り and both exclusions, and leaves
    out the corporations the registry says are closed).

    ``in_id_order`` writes the column filters so that no index can serve them (``col || ''``,
    ``col + 0``): for a page of a broad result, walking the table in id order and stopping after
    the page beats collecting and sorting a third of a million index hits (SQLite only needs
    the hint; its planner cannot know the LIMIT will stop early)."""
    text_col: Any = (lambda c: c + "") if in_id_order else (lambda c: c)
    num_col: Any = (lambda c: c + 0) if in_id_order else (lambda c: c)
    where: list[ColumnElement[bool]] = []
    terms = keyword_terms(q.keyword)
    if terms:
        where.append(KeywordMatch(terms, has_url=q.has_url or for_queue))
    if q.industry:
        where.append(text_col(Prospect.industry).in_(q.industry))
    if q.prefecture:
        where.append(text_col(Prospect.prefecture).in_(q.prefecture))
    if q.employees_min is not None:
        where.append(num_col(Prospect.employees) >= q.employees_min)
    if q.employees_max is not None:
        where.append(num_col(Prospect.employees) <= q.employees_max)
    if q.capital_min is not None:
        where.append(num_col(Prospect.capital) >= q.capital_min)
    if q.capital_max is not None:
        where.append(num_col(Prospect.capital) <= q.capital_max)
    has_url = q.has_url or for_queue
    if has_url:
        where.append(text_col(Prospect.domain).is_not(None))
    if for_queue:
        where.append(Prospect.closed_at.is_(None))
    excluded = _exclusion(q, member_id, for_queue) if exclusions else None
    if excluded is not None:
        # A prospect without a URL cannot have been contacted or suppressed.
        not_excluded = Prospect.domain.not_in(excluded.scalar_subquery())
        where.append(not_excluded if has_url else or_(Prospect.domain.is_(None), not_excluded))
    return where


def _filtered(
    q: ProspectQuery, member_id: int | None, *, for_queue: bool = False, in_id_order: bool = False
) -> Select[Any]:
    where = conditions(q, member_id, for_queue=for_queue, in_id_order=in_id_order)
    stmt = select(Prospect)
    return stmt.where(and_(*where)) if where else stmt


def _walk_in_id_order(db: Session, q: ProspectQuery, matches: int) -> bool:
    """SQLite: page a result by walking the table in id order when that reads fewer rows than
    collecting and sorting every match. A walk to the end of the page reads about
    (offset + per_page) × everything / matches rows, the index reads ``matches``: they are equal
    at matches² = (offset + per_page) × everything; a walked row costs less than an indexed
    match (no sort), hence the factor 4. (At one million rows the first page walks from about
    3,500 matches; a fixed 5 % of the list, the rule before, sorted 200,000 matches at five
    million.)"""
    if db.get_bind().dialect.name != "sqlite" or q.keyword:
        return False  # PostgreSQL's planner weighs the LIMIT itself; keywords use their index
    everything = _counted(db, ProspectQuery()) or 0
    return matches * matches * 4 >= (q.offset + q.per_page) * everything


_COUNTS = table(
    "prospect_counts",
    column("prefecture"),
    column("has_employees", Boolean),
    column("employees"),
    column("total"),
    column("with_url"),
)


def _counted(db: Session, q: ProspectQuery) -> int | None:
    """The count of ``q`` from ``prospect_counts`` (one row per prefecture and employee count,
    kept by triggers: migration 0011) when ``q`` filters by nothing but prefecture, employee
    range and URL有り; else ``None``. A few thousand rows summed instead of up to millions of
    index entries counted (docs/architecture.md#counting-the-prospect-list)."""
    if keyword_terms(q.keyword) or q.industry or (q.capital_min, q.capital_max) != (None, None):
        return None
    c = _COUNTS.c
    stmt = select(func.coalesce(func.sum(c.with_url if q.has_url else c.total), 0))
    if q.prefecture:
        stmt = stmt.where(c.prefecture.in_(q.prefecture))
    if q.employees_min is not None or q.employees_max is not None:
        stmt = stmt.where(c.has_employees.is_(True))
    if q.employees_min is not None:
        stmt = stmt.where(c.employees >= q.employees_min)
    if q.employees_max is not None:
        stmt = stmt.where(c.employees <= q.employees_max)
    return int(db.execute(stmt).scalar_one())


def count(db: Session, q: ProspectQuery, member_id: int | None) -> int:
    """How many prospects match ``q`` for this member (paging ignored).

    With exclusions, counts the matches and subtracts the excluded ones: the excluded domains
    are few, so that is a lookup per excluded domain instead of a probe per matching row."""
    where = conditions(q, member_id, exclusions=False)
    stmt = select(func.count()).select_from(Prospect)
    stmt = stmt.where(and_(*where)) if where else stmt
    if _keyword_only(db, q):
        total = _keyword_total(db, q)
    else:
        counted = _counted(db, q)
        total = int(db.execute(stmt).scalar_one()) if counted is None else counted
    excluded = _exclusion(q, member_id, for_queue=False)
    if excluded is None or total == 0:
        return total
    minus = stmt.where(Prospect.domain.in_(excluded.scalar_subquery()))
    return total - int(db.execute(minus).scalar_one())


def search(db: Session, q: ProspectQuery, member_id: int | None) -> tuple[int, list[Prospect]]:
    """``(total, the prospects of q's page)``, ordered by id."""
    if _keyword_only(db, q) and _exclusion(q, member_id, for_queue=False) is None:
        total, ids = _keyword_search(db, q)
        if not ids:
            return total, []
        rows = db.scalars(select(Prospect).where(Prospect.id.in_(ids)).order_by(Prospect.id))
        return total, list(rows)
    total = count(db, q, member_id)
    if total == 0 or q.offset >= total:
        return total, []
    in_id_order = _walk_in_id_order(db, q, total)
    stmt = (
        _filtered(q, member_id, in_id_order=in_id_order)
        .order_by(Prospect.id)
        .offset(q.offset)
        .limit(q.per_page)
    )
    return total, list(db.scalars(stmt))


def select_for_queue(db: Session, q: ProspectQuery, member_id: int, limit: int) -> list[Prospect]:
    """Up to ``limit`` prospects of ``q`` to queue for ``member_id``: always with a URL, never a
    domain this member already contacted or queued, never a suppressed one; in id order so the
    same search fills a queue the same way. Paging of ``q`` is ignored."""
    if limit <= 0:
        return []
    stmt = _filtered(q, member_id, for_queue=True).order_by(Prospect.id).limit(limit)
    return list(db.scalars(stmt))
