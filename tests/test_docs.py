"""The project's own docs (docs/*.md) stay the thing the code cites, and stay true to the code.

* No source file cites an outside specification (the handbook's spec by name or by section
  sign and number): the repository must be readable on its own, so rules are cited as
  ``docs/rules.md#<heading>``.
* Every ``docs/<file>.md#<anchor>`` cited anywhere (code, templates, the docs themselves) names
  a heading that exists, with GitHub's anchor rules.
* What the docs point at exists: repository paths in backticks, the names written right after
  a path (```shared/ledger.py` `hold```) and dotted names (``shared.items.claim``) are found in
  the code, so a rename or a move that forgets the docs fails here.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOC_FILES = ("architecture.md", "rules.md", "operations.md")

SOURCE_DIRS = ("coordinator", "worker", "formfill", "shared", "mikomi", "fixtures", "tests")
SOURCE_DIRS += ("bench", "deploy", "docs")
ROOT_FILES = ("README.md", "Makefile", "pyproject.toml")
SUFFIXES = frozenset(
    {".py", ".html", ".js", ".css", ".md", ".toml", ".sh", ".service", ".example", ".mako"}
    | {".yaml", ".yml", ".ini"}
)
NAMES = frozenset({"Dockerfile", "Makefile"})
# Fixture sites are imitations of other people's websites, not our source.
SKIP_PARTS = frozenset({"__pycache__", ".venv", "node_modules", "sites"})
THIS_FILE = Path(__file__).resolve()

# The spec's name followed by a section sign, its file name, or a bare section sign and number:
# citations of a document that is not in the repository.
OUTSIDE_CITATION = re.compile("|".join((r"\bSPEC\b\s*§", r"\bSPEC\.md\b", r"§\s*\d")))
DOC_LINK = re.compile(r"docs/([\w-]+\.md)(?:#([\w-]+))?")
RELATIVE_LINK = re.compile(r"\]\((?:([\w-]+\.md))?#([\w-]+)\)")
PACKAGES = ("coordinator", "worker", "formfill", "shared", "mikomi", "fixtures")
TOP_LEVEL = (*PACKAGES, "tests", "bench", "deploy", "docs")
CODE_SPAN = re.compile(r"`([^`\n]+)`")
FILE_NAME = re.compile(r"\.(?:py|md|html|js|css|toml|sh|service|example|json|csv|db|log)\b")
PATH_THEN_NAMES = re.compile(r"`([\w./-]+\.py)`((?:,? `[^`\n]+`)+)")


def source_files() -> list[Path]:
    found = [ROOT / name for name in ROOT_FILES if (ROOT / name).is_file()]
    for top in SOURCE_DIRS:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or (path.suffix not in SUFFIXES and path.name not in NAMES):
                continue
            if SKIP_PARTS.intersection(path.relative_to(ROOT).parts) or path == THIS_FILE:
                continue
            found.append(path)
    return found


def github_anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces → '-'."""
    text = heading.strip().lower()
    kept = "".join(
        ch
        for ch in text
        if ch in " -_" or unicodedata.category(ch)[0] in ("L", "N") or ch.isalnum()
    )
    return kept.replace(" ", "-")


@cache
def anchors(doc: str) -> frozenset[str]:
    path = DOCS / doc
    if not path.is_file():
        return frozenset()
    found: set[str] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (m := re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)):
            found.add(github_anchor(m.group(1)))
    return frozenset(found)


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, pos) + 1}"


def test_the_docs_exist_with_their_main_sections() -> None:
    for doc in DOC_FILES:
        assert (DOCS / doc).is_file(), doc
    assert {"reservations", "tickets", "guardrails", "outcomes"} <= anchors("rules.md")
    assert {"the-parts", "the-item-state-machine", "leases-and-the-reaper"} <= anchors(
        "architecture.md"
    )
    assert {"settings", "upgrades", "backups"} <= anchors("operations.md")


def test_github_anchor() -> None:
    assert github_anchor("Pause, list change and add list") == "pause-list-change-and-add-list"
    assert github_anchor("One send, from reservation to ledger") == (
        "one-send-from-reservation-to-ledger"
    )
    assert github_anchor("`mikomi up`") == "mikomi-up"


def test_no_source_file_cites_an_outside_spec() -> None:
    offenders = []
    for path in source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for m in OUTSIDE_CITATION.finditer(text):
            offenders.append(f"{_where(path, text, m.start())}: {m.group(0)!r}")
    assert not offenders, "cite docs/rules.md#<heading> instead:\n" + "\n".join(offenders)


def test_every_cited_docs_anchor_exists() -> None:
    broken = []
    checked = 0
    for path in source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        links = [(m.group(1), m.group(2), m.start()) for m in DOC_LINK.finditer(text)]
        if path.parent == DOCS:
            links += [
                (m.group(1) or path.name, m.group(2), m.start())
                for m in RELATIVE_LINK.finditer(text)
            ]
        for doc, anchor, pos in links:
            checked += 1
            if not (DOCS / doc).is_file():
                broken.append(f"{_where(path, text, pos)}: docs/{doc} does not exist")
            elif anchor is not None and anchor not in anchors(doc):
                broken.append(f"{_where(path, text, pos)}: docs/{doc}#{anchor} has no heading")
    assert checked > 0
    assert not broken, "\n".join(broken)


def _module_file(dotted: list[str]) -> tuple[Path | None, list[str]]:
    """The longest prefix of ``dotted`` that is a module of the project, and the rest."""
    for cut in range(len(dotted), 0, -1):
        base = ROOT.joinpath(*dotted[:cut])
        if base.with_suffix(".py").is_file():
            return base.with_suffix(".py"), dotted[cut:]
        if (base / "__init__.py").is_file():
            return base / "__init__.py", dotted[cut:]
    return None, dotted


@cache
def _module_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    if path.name == "__init__.py":  # a package: its modules count too
        text += "".join(p.read_text(encoding="utf-8") for p in sorted(path.parent.glob("*.py")))
    return text


def _defines(path: Path, name: str) -> bool:
    return re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", _module_text(path)) is not None


DOC_PARAMS = [pytest.param(doc, id=doc) for doc in DOC_FILES]


@pytest.mark.parametrize("doc", DOC_PARAMS)
def test_the_paths_and_names_in_the_docs_exist(doc: str) -> None:
    text = (DOCS / doc).read_text(encoding="utf-8")
    missing = []
    for m in CODE_SPAN.finditer(text):
        span = m.group(1).strip()
        first = span.split("/", 1)[0]
        if "/" in span and first in TOP_LEVEL and re.fullmatch(r"[\w./-]+", span):
            if not (ROOT / span).exists():
                missing.append(f"{doc}: path {span}")
        elif FILE_NAME.search(span):
            continue  # a file name such as mikomi.env.example
        elif dotted := re.match(r"([a-z_]\w*(?:\.\w+)+)", span):
            parts = dotted.group(1).split(".")
            if parts[0] not in PACKAGES:
                continue
            module, names = _module_file(parts)
            if module is None:
                missing.append(f"{doc}: module of {span}")
                continue
            missing += [f"{doc}: {name} in {span}" for name in names if not _defines(module, name)]
    for m in PATH_THEN_NAMES.finditer(text):
        module = ROOT / m.group(1)
        if not module.is_file():
            continue  # reported above
        for name_span in re.findall(r"`([^`\n]+)`", m.group(2)):
            if "/" in name_span or FILE_NAME.search(name_span):
                break  # another path or file: what follows belongs to it
            if " " in name_span.split("(", 1)[0]:
                continue  # prose in backticks
            for name in name_span.split("(", 1)[0].split("."):
                if name and not _defines(module, name):
                    missing.append(f"{doc}: {name} in {m.group(1)}")
    assert not missing, "the docs name what the code no longer has:\n" + "\n".join(missing)
