"""`mikomi formfill classify` (docs/operations.md#command-line): one JSON line per file,
thousands of files in seconds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from mikomi.cli import app
from tests.support.formfill_pages import PAGES


def test_classify_json_lines() -> None:
    files = [
        str(PAGES / "multi_forms.html"),
        str(PAGES / "wp_comment.html"),
        str(PAGES / "formrun.html"),
    ]
    result = CliRunner().invoke(
        app, ["formfill", "classify", *files, "--url", "https://example.jp/", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == files
    multi = lines[0]["forms"]
    assert [f["kind"] for f in multi] == [
        "search",
        "login",
        "newsletter",
        "contact",
        "registration",
        "password_reset",
        "order",
    ]
    assert multi[3]["index"] == 3
    assert multi[3]["fields"] == [
        {"name": "company", "role": "company"},
        {"name": "name", "role": "name"},
        {"name": "mail", "role": "email"},
        {"name": "body", "role": "message"},
    ]
    assert set(multi[3]) == {"index", "kind", "score", "fields"}
    assert lines[1]["forms"][0]["kind"] == "comment"
    # The honeypot is hidden: not listed among the visible fields.
    assert "_formrun_gotcha" not in {f["name"] for f in lines[2]["forms"][0]["fields"]}


def test_classify_two_thousand_files_takes_seconds(tmp_path: Path) -> None:
    sources = sorted(PAGES.glob("*.html"))
    files = []
    for i in range(2000):
        target = tmp_path / f"page{i:04d}.html"
        shutil.copyfile(sources[i % len(sources)], target)
        files.append(str(target))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mikomi.cli", "formfill", "classify", *files, "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    assert len(proc.stdout.splitlines()) == 2000
    print(f"\n2,000 files classified in {elapsed:.1f} s")
    assert elapsed < 120  # generous: the machine is shared; typical figures are in the report
