"""The label catalogue (shared.labels) covers every stable word, and no other file keeps a table
of its own: a second copy is how the page came to say 待機中 where the CSV said 収集中."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from shared import enums, labels
from shared.config import PROJECT_ROOT
from shared.suppression import SuppressionReason

CODE_DIRS = ("coordinator", "shared", "worker", "formfill", "mikomi", "bench")
CATALOGUE = PROJECT_ROOT / "shared" / "labels.py"
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")

# Words shown to people, each of which must have a label; a table keyed by members of an enum
# must name every member of it (so a new member without a label fails here).
SHOWN_ENUMS = {
    enums.OrderStatus,
    enums.PaymentMethod,
    enums.ReservationStatus,
    enums.AdditionStatus,
    enums.ItemState,
    enums.SkipReason,
    enums.FailReason,
    enums.DoubtReason,
    enums.NotificationKind,
    enums.ImportStatus,
    enums.Role,
}
# suppressions.reason has no enum, only named constants.
PLAIN_WORDS = {
    "suppression_reason": {
        v for k, v in vars(SuppressionReason).items() if k.isupper() and isinstance(v, str)
    },
}

# Mappings from words to Japanese that are not labels of those words: the flash message after
# an action is keyed by the action's code, some of which (paused, approved) are also statuses.
NOT_LABEL_TABLES = {("coordinator/web/rendering.py", "FLASH_MESSAGES")}


def _words(name: str) -> set[str]:
    """The words table ``name`` must name: every member of the enums its keys belong to."""
    if name in PLAIN_WORDS:
        return PLAIN_WORDS[name]
    kinds = {type(word) for word in labels.TABLES[name]}
    assert all(issubclass(k, StrEnum) for k in kinds), f"{name}: keys that are not enum members"
    return {member.value for kind in kinds for member in kind}  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(labels.TABLES))
def test_every_word_has_one_label_and_no_label_names_two_words(name: str) -> None:
    table = labels.TABLES[name]
    words = _words(name)
    assert set(table) == words, f"{name}: missing {words - set(table)}, extra {set(table) - words}"
    assert all(table[w].strip() for w in words), f"{name}: an empty label"
    shown = list(table.values())
    assert len(set(shown)) == len(shown), f"{name}: two words share a label: {shown}"


def test_every_word_shown_has_a_table_and_the_page_gets_them_all() -> None:
    keyed_by = {type(word) for table in labels.TABLES.values() for word in table}
    assert keyed_by >= SHOWN_ENUMS, f"no labels for {SHOWN_ENUMS - keyed_by}"
    served = labels.catalogue()
    assert served == {name: dict(table) for name, table in labels.TABLES.items()}
    assert all(type(word) is str for table in served.values() for word in table)


def test_the_reasons_are_those_of_the_outcomes() -> None:
    assert set(labels.REASON) == set().union(*enums.REASONS_BY_STATUS.values())


def test_a_word_the_catalogue_does_not_know_is_shown_as_it_is() -> None:
    assert labels.label(labels.ITEM_STATE, "queued") == "収集中"
    assert labels.label(labels.ITEM_STATE, enums.ItemState.IN_DOUBT) == "送信結果不明"
    assert labels.label(labels.REASON, None) == ""
    assert labels.label(labels.NOTIFICATION_KIND, "something_new") == "something_new"


# --- no second table --------------------------------------------------------------------------

# word -> the tables that name it
_TABLES_OF: dict[str, set[str]] = {}
for _name, _table in labels.TABLES.items():
    for _word in _table:
        _TABLES_OF.setdefault(str(_word), set()).add(_name)


def _source_files(*suffixes: str) -> Iterator[Path]:
    for folder in CODE_DIRS:
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in suffixes and path != CATALOGUE and "sites" not in path.parts:
                yield path


def _word_of(node: ast.expr | None) -> str | None:
    """``"queued"`` or ``ItemState.QUEUED`` (member names are their words in capitals)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and node.attr.isupper():
        return node.attr.lower()
    return None


def _is_japanese(node: ast.expr | None) -> bool:
    if isinstance(node, ast.JoinedStr):
        return any(_is_japanese(v) for v in node.values)
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(JAPANESE.search(node.value))
    )


def _tables_named(pairs: Iterable[tuple[ast.expr | None, ast.expr | None]]) -> set[str]:
    """The catalogue tables of which these (word, Japanese) pairs name two words or more."""
    seen: dict[str, set[str]] = {}
    for key, value in pairs:
        word = _word_of(key)
        if word is None or not _is_japanese(value):
            continue
        for name in _TABLES_OF.get(word, ()):
            seen.setdefault(name, set()).add(word)
    return {name for name, words in seen.items() if len(words) >= 2}


def python_label_tables(relpath: str, source: str) -> list[str]:
    """Dicts and lists of pairs mapping catalogue words to Japanese, and ``"…" if x == word``."""
    tree = ast.parse(source)
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and (relpath, target.id) in NOT_LABEL_TABLES:
                    allowed.add(id(node.value))
    found = []
    for node in ast.walk(tree):
        pairs: list[tuple[ast.expr | None, ast.expr | None]] = []
        if isinstance(node, ast.Dict) and id(node) not in allowed:
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.List | ast.Tuple | ast.Set):
            pairs = [
                (e.elts[0], e.elts[1])
                for e in node.elts
                if isinstance(e, ast.Tuple) and len(e.elts) == 2
            ]
        elif isinstance(node, ast.IfExp) and isinstance(node.test, ast.Compare):
            words = [_word_of(c) for c in node.test.comparators]
            if any(w in _TABLES_OF for w in words) and _is_japanese(node.body):
                found.append(f"{relpath}:{node.lineno}: a label chosen by comparing words")
        for name in sorted(_tables_named(pairs)):
            found.append(f"{relpath}:{node.lineno}: a table of {name} labels")
    return found


_PAIR = re.compile(r"""["']?([a-z_]+)["']?\s*:\s*(["'`])([^"'`]*)\2""")
_CHOICE = re.compile(
    r"""(?:===?\s*["']([a-z_]+)["']\s*\?\s*["'`]([^"'`]*)["'`])"""  # JS: x === "w" ? "…"
    r"""|(?:["']([^"']*)["']\s+if\s+[\w.]+\s*==\s*["']([a-z_]+)["'])"""  # Jinja: "…" if x == "w"
)


def text_label_tables(relpath: str, source: str) -> list[str]:
    """The same in templates and the page script, found by their ``word: "…"`` pairs."""
    found = []
    for lineno, line in enumerate(source.splitlines(), 1):
        pairs = [(m.group(1), m.group(3)) for m in _PAIR.finditer(line)]
        seen: dict[str, set[str]] = {}
        for word, text in pairs:
            if JAPANESE.search(text):
                for name in _TABLES_OF.get(word, ()):
                    seen.setdefault(name, set()).add(word)
        found += [
            f"{relpath}:{lineno}: a table of {n} labels" for n, w in seen.items() if len(w) > 1
        ]
        for m in _CHOICE.finditer(line):
            word, text = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
            if word in _TABLES_OF and JAPANESE.search(text):
                found.append(f"{relpath}:{lineno}: a label chosen by comparing words")
    return found


def script_labels(relpath: str, source: str) -> list[str]:
    """The page script reads every label from the catalogue the page carries: none of the
    catalogue's Japanese words appears in it as a string of its own."""
    every = {text for table in labels.TABLES.values() for text in table.values()}
    return [
        f"{relpath}:{source.count(chr(10), 0, m.start()) + 1}: the label {m.group(2)!r}"
        for m in re.finditer(r"""(["'`])([^"'`\n]*)\1""", source)
        if m.group(2) in every
    ]


def _relpath(path: Path) -> str:
    return path.relative_to(PROJECT_ROOT).as_posix()


def test_no_python_module_keeps_a_second_label_table() -> None:
    found = [
        hit
        for path in _source_files(".py")
        for hit in python_label_tables(_relpath(path), path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_no_template_or_script_keeps_a_second_label_table() -> None:
    found = []
    for path in _source_files(".html", ".js", ".j2", ".jinja"):
        source = path.read_text(encoding="utf-8")
        found += text_label_tables(_relpath(path), source)
        if path.suffix == ".js":
            found += script_labels(_relpath(path), source)
    assert found == []


@pytest.mark.parametrize(
    ("finder", "source"),
    [
        (python_label_tables, 'X = {"queued": "待機中", "in_doubt": "確認中"}'),
        (python_label_tables, "X = {ItemState.QUEUED: '収集中', ItemState.SENT: '送信済み'}"),
        (python_label_tables, 'X = [("optout", "配信停止"), ("ng", "NGリスト")]'),
        (python_label_tables, 'who = "運営" if role == "operator" else "会員"'),
        (text_label_tables, '{{ {"running": "取込中", "done": "完了"}.get(j.status) }}'),
        (text_label_tables, 'const S = {\n  pending: "申請中", approved: "承認済み",\n};'),
        (text_label_tables, '（{{ "運営" if author.role == "operator" else "会員" }}）'),
        (text_label_tables, 'x = m.author_role === "operator" ? "運営" : "会員";'),
        (script_labels, 'cell.textContent = "自動キャンセル";'),
    ],
)
def test_the_search_finds_the_copies_it_is_meant_to_find(finder, source) -> None:  # type: ignore[no-untyped-def]
    assert finder("example", source)


def test_the_search_leaves_flash_messages_and_prose_alone() -> None:
    assert not python_label_tables(
        "coordinator/web/rendering.py",
        'FLASH_MESSAGES = {"paused": "一時停止しました", "approved": "承認しました"}',
    )
    assert not text_label_tables("t.html", "<th>収集中リスト数</th><button>一時停止</button>")


# --- notifications are made from the enum -----------------------------------------------------


def test_every_notification_is_created_from_the_kind_enum() -> None:
    """``notify(kind=NotificationKind.X)``: a string kind is how five kinds went unlabelled."""
    found = []
    for path in _source_files(".py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name != "notify":
                continue
            kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
            is_member = (
                isinstance(kind, ast.Attribute)
                and isinstance(kind.value, ast.Name)
                and kind.value.id == "NotificationKind"
                and kind.attr in enums.NotificationKind.__members__
            )
            if not is_member:
                found.append(f"{_relpath(path)}:{node.lineno}")
    assert found == []


def test_notify_refuses_a_kind_that_is_not_one(db) -> None:  # type: ignore[no-untyped-def]
    from shared.models import Notification
    from shared.notify import notify

    with pytest.raises(ValueError):
        notify(db, kind="order_placed_typo", for_operators=True, title="x")  # type: ignore[arg-type]
    row = notify(db, kind=enums.NotificationKind.ORDER_PLACED, for_operators=True, title="x")
    assert db.get(Notification, row.id) is not None and row.kind == "order_placed"
