"""deploy/check_import_cycles.py: ``make check`` fails on any import cycle of the project."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from shared.config import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "deploy" / "check_import_cycles.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(cwd: Path, *packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *packages],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    for module, source in modules.items():
        (root / name / f"{module}.py").write_text(source)


def test_groups_of_modules_that_import_each_other() -> None:
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": {"e"},
        "e": {"d"},
        "f": {"a"},
        "g": set(),
    }
    assert _script().strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]


def test_a_cycle_through_a_lazy_import_fails_and_is_shown(tmp_path: Path) -> None:
    _package(
        tmp_path,
        "cyclic",
        {
            "items": "from cyclic import lifecycle\n",
            "lifecycle": "def stale():\n    from cyclic.items import lock  # lazy\n",
            "plain": "import cyclic.items\n",
        },
    )
    result = _run(tmp_path, "cyclic")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "import cycle among 2 modules: cyclic.items -> cyclic.lifecycle -> cyclic.items" in (
        result.stdout
    )
    assert "line 2: from cyclic.items import lock  # lazy" in result.stdout
    assert "cyclic.plain" not in result.stdout


def test_a_cycle_across_packages_fails(tmp_path: Path) -> None:
    _package(tmp_path, "alpha", {"one": "import beta.two\n"})
    _package(tmp_path, "beta", {"two": "from alpha import one\n"})
    assert _run(tmp_path, "alpha").returncode == 0  # alone, alpha has no cycle
    result = _run(tmp_path, "alpha", "beta")
    assert result.returncode == 1
    assert "alpha.one -> beta.two -> alpha.one" in result.stdout


def test_the_project_has_no_import_cycle() -> None:
    result = _run(PROJECT_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("no import cycles in coordinator, worker, formfill, shared")
