"""``mikomi formfill …``: static analysis of saved pages with the form engine
(docs/operations.md#command-line)."""

from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(no_args_is_help=True, help="Form engine tools (static analysis of saved pages)")

# Below this many files a process pool costs more to start than it saves.
_POOL_THRESHOLD = 200


@app.callback()
def _group() -> None:
    """Form engine tools."""


def classify_file(path: str, url: str) -> dict[str, Any]:
    """The record of one saved page (docs/operations.md#command-line): its forms with their
    named, visible fields."""
    from formfill import classify_forms

    html = Path(path).read_bytes().decode("utf-8", errors="replace")
    forms = classify_forms(html, url or Path(path).resolve().as_uri())
    return {
        "file": path,
        "forms": [
            {
                "index": form.index,
                "kind": form.kind,
                "score": form.score,
                "fields": [
                    {"name": f.name, "role": f.role} for f in form.fields if f.name and f.visible
                ],
            }
            for form in forms
        ],
    }


@app.command()
def classify(
    files: Annotated[
        list[Path], typer.Argument(help="Saved HTML pages", exists=True, dir_okay=False)
    ],
    url: Annotated[str, typer.Option("--url", help="The URL the pages were saved from")] = "",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file per line")
    ] = False,
) -> None:
    """Classify every form of each page: kind, inquiry score, and the role of each field.

    Prints one line per file, in the order given: {"file", "forms": [{"index", "kind",
    "score", "fields": [{"name", "role"}]}]} with the named, visible fields in document order.
    Thousands of files are spread over the machine's cores.
    """
    paths = [str(p) for p in files]
    work = partial(classify_file, url=url)
    workers = os.cpu_count() or 1
    if len(paths) >= _POOL_THRESHOLD and workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for record in pool.map(work, paths, chunksize=50):
                _emit(record, as_json)
    else:
        for path in paths:
            _emit(work(path), as_json)


def _emit(record: dict[str, Any], as_json: bool) -> None:
    out = sys.stdout
    if as_json:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    out.write(f"{record['file']}\n")
    for form in record["forms"]:
        names = ", ".join(f"{f['name']}={f['role']}" for f in form["fields"])
        out.write(f"  form {form['index']}: {form['kind']} ({form['score']}) {names}\n")
