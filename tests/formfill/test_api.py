"""The public surface of formfill: a literal __all__ that matches what the package exports."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import formfill


def test_all_is_literal_and_matches_exports() -> None:
    source = Path(formfill.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    literal = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
    )
    names = ast.literal_eval(literal)
    assert names == formfill.__all__
    public = {n for n in dir(formfill) if not n.startswith("_")}
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(names) == imported
    assert set(names) <= public
    for name in names:
        assert getattr(formfill, name).__doc__, f"{name} has no docstring"


def test_value_types_are_frozen() -> None:
    for name in ("PageSnapshot", "FormInfo", "FieldInfo", "FillPlan", "FillVariant", "PageState"):
        cls = getattr(formfill, name)
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


def test_no_io_imports() -> None:
    forbidden = {
        "httpx",
        "redis",
        "sqlalchemy",
        "playwright",
        "socket",
        "requests",
        "shared",
        "worker",
        "coordinator",
    }
    for path in Path(formfill.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                assert mod.split(".")[0] not in forbidden, f"{path.name} imports {mod}"
