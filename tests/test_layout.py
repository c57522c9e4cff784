"""The test tree's own rules (tests/README.md), so that they stay true as tests are added.

* No test module imports from another test module or from a conftest.py: fixtures reach tests
  through conftest.py files, data through tests/builders.py, other helpers through plain
  modules with public names (tests/support/, or a non-test module beside the tests).
* Every directory of Python files under tests/ is a package (``__init__.py``): two test files
  of the same name in different directories must not collide.
* The tree mirrors the source: a directory under tests/coordinator, tests/shared, tests/worker
  or tests/formfill is named after a package of the code it tests.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
MIRRORED = ("coordinator", "shared", "worker", "formfill")


def _python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def _is_test_or_conftest(module: str) -> bool:
    """``tests.a.test_b`` or ``tests.a.conftest``, given as a dotted module name."""
    last = module.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


def _imported_test_modules(path: Path) -> list[str]:
    """The test modules and conftest.py files that ``path`` imports, as dotted names."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from tests.a import test_b`` imports the module test_b.
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found += [m for m in modules if m.startswith("tests.") and _is_test_or_conftest(m)]
    return found


def test_no_test_module_imports_another_test_module_or_a_conftest() -> None:
    offenders = {
        str(path.relative_to(ROOT)): imported
        for path in _python_files()
        if (imported := _imported_test_modules(path))
    }
    assert offenders == {}, (
        "import fixtures through conftest.py, builders from tests/builders.py and other helpers "
        "from a non-test module (tests/support/)"
    )


def test_every_directory_of_python_files_is_a_package() -> None:
    directories = {path.parent for path in _python_files()}
    missing = sorted(
        str(d.relative_to(ROOT)) for d in directories if not (d / "__init__.py").exists()
    )
    assert missing == []


def test_the_tree_mirrors_the_source_packages() -> None:
    strays = []
    for top in MIRRORED:
        for directory in (TESTS / top).rglob("*"):
            if not directory.is_dir() or not (directory / "__init__.py").exists():
                continue  # data (tests/formfill/pages/) and caches
            source = ROOT / directory.relative_to(TESTS)
            if not (source / "__init__.py").exists():
                strays.append(str(directory.relative_to(ROOT)))
    assert strays == [], "a test directory names no package of the source"


def test_the_check_sees_an_import_of_a_test_module(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from tests.coordinator.web.test_web import login\n"
        "from tests.coordinator import test_tickets\n"
        "import tests.worker.conftest\n"
        "from tests.builders import make_member\n"
        "from tests.support.web import login\n"
        "from tests.coordinator.responses import mails\n",
        encoding="utf-8",
    )
    assert _imported_test_modules(sample) == [
        "tests.coordinator.web.test_web",
        "tests.coordinator.test_tickets",
        "tests.worker.conftest",
    ]
