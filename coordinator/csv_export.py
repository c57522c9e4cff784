"""Every CSV the coordinator hands out: UTF-8 with a BOM (Excel opens it as such), CRLF,
streamed in batches, and no cell that a spreadsheet would run as a formula.

Prospect names, URLs and addresses come from imported files and from the web; a cell such as
``=HYPERLINK(…)`` or ``@SUM(…)`` must reach the member's spreadsheet as text. Each cell that
starts with ``= + - @``, a tab or a carriage return is prefixed with an apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

from fastapi.responses import StreamingResponse

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"


def safe_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def stream(header: Sequence[str], batches: Iterable[Iterable[Sequence[object]]]) -> Iterator[bytes]:
    """The CSV bytes of ``header`` and the rows of each batch, one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield (BOM + buffer.getvalue()).encode("utf-8")
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([safe_cell(value) for value in row] for row in rows)
        yield buffer.getvalue().encode("utf-8")


def response(
    header: Sequence[str], batches: Iterable[Iterable[Sequence[object]]], filename: str
) -> StreamingResponse:
    return StreamingResponse(
        stream(header, batches),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
