"""Receive an uploaded CSV into a file under var/imports/ while it arrives, never in memory.

Accepts ``multipart/form-data`` (the first file part) or a raw body (``text/csv`` or
``application/octet-stream`` with ``?filename=``). The size limit is checked as bytes arrive."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from coordinator.errors import AppError

MAX_IMPORT_BYTES = 500 * 1024 * 1024


def _too_large() -> AppError:
    return AppError(
        "import_too_large",
        f"ファイルが大きすぎます（上限{MAX_IMPORT_BYTES // (1024 * 1024)}MB）",
        status_code=413,
    )


class _Sink:
    """Writes the first file part of a multipart body to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.written = 0
        self.filename = ""
        self._headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self._in_file = False
        self._done = False

    def on_part_begin(self) -> None:
        self._headers = {}

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        filename = options.get(b"filename")
        self._in_file = filename is not None and not self._done
        if self._in_file:
            self.filename = filename.decode("utf-8", "replace") if filename else "upload.csv"

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_file:
            return
        self.written += end - start
        if self.written > MAX_IMPORT_BYTES:
            raise _too_large()
        self.out.write(data[start:end])

    def on_part_end(self) -> None:
        if self._in_file:
            self._done = True
        self._in_file = False


async def receive(
    chunks: AsyncIterator[bytes], content_type: str, filename: str, directory: Path
) -> tuple[Path, str]:
    """Stream the body into ``directory``; → (the file, the uploaded file's name)."""
    target = directory / f"{uuid.uuid4().hex}.csv"
    media, options = parse_options_header(content_type)
    try:
        with open(target, "wb") as out:
            if media == b"multipart/form-data":
                boundary = options.get(b"boundary")
                if not boundary:
                    raise AppError("invalid_upload", "アップロードの形式が正しくありません")
                sink = _Sink(out)
                parser = MultipartParser(
                    boundary,
                    {
                        "on_part_begin": sink.on_part_begin,
                        "on_header_field": sink.on_header_field,
                        "on_header_value": sink.on_header_value,
                        "on_header_end": sink.on_header_end,
                        "on_headers_finished": sink.on_headers_finished,
                        "on_part_data": sink.on_part_data,
                        "on_part_end": sink.on_part_end,
                    },
                )
                try:
                    async for chunk in chunks:
                        parser.write(chunk)
                    parser.finalize()
                except MultipartParseError:
                    raise AppError(
                        "invalid_upload", "アップロードの形式が正しくありません"
                    ) from None
                if not sink._done and not sink.written:
                    raise AppError("missing_file", "CSVファイルを選択してください", field="file")
                name = sink.filename or filename
            else:
                written = 0
                async for chunk in chunks:
                    written += len(chunk)
                    if written > MAX_IMPORT_BYTES:
                        raise _too_large()
                    out.write(chunk)
                if not written:
                    raise AppError("missing_file", "CSVファイルが空です", field="file")
                name = filename
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, (name or "upload.csv")[:300]
