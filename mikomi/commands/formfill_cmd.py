"""``mikomi formfill …``: static analysis of saved pages with the form engine (SPEC §7)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Form engine tools (static analysis of saved pages)")


@app.callback()
def _group() -> None:
    """Form engine tools."""


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

    Prints one line per file: {"file", "forms": [{"index", "kind", "score", "fields":
    [{"name", "role"}]}]} with the named, visible fields in document order.
    """
    # Imported here so `mikomi --help` does not pay for lxml.
    from formfill import classify_forms

    out = sys.stdout
    for path in files:
        html = path.read_bytes().decode("utf-8", errors="replace")
        page_url = url or path.resolve().as_uri()
        forms = classify_forms(html, page_url)
        record = {
            "file": str(path),
            "forms": [
                {
                    "index": form.index,
                    "kind": form.kind,
                    "score": form.score,
                    "fields": [
                        {"name": f.name, "role": f.role}
                        for f in form.fields
                        if f.name and f.visible
                    ],
                }
                for form in forms
            ],
        }
        if as_json:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            out.write(f"{path}\n")
            for form in record["forms"]:
                names = ", ".join(f"{f['name']}={f['role']}" for f in form["fields"])
                out.write(f"  form {form['index']}: {form['kind']} ({form['score']}) {names}\n")
