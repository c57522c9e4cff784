"""Reading a prospect CSV: its encoding, its header and its records, one bounded record at a
time (a quoted field may span lines; a 10 MB line is one over-long record, never a 10 MB
string). What the columns mean is ``import_parsing``'s business."""

from __future__ import annotations

import codecs
import csv
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from coordinator.errors import AppError

MAX_RECORD_BYTES = 1_000_000  # one CSV record (a company is a few hundred bytes)
SNIFF_BYTES = 1_000_000

REQUIRED_COLUMNS = ("company", "url")
COLUMNS = (
    "company", "url", "industry", "prefecture", "city", "address", "phone",
    "employees", "capital", "founded", "company_kana", "tags", "corporate_number",
)  # fmt: skip
# Japanese headers (the CSV export's) and common variants → column names.
HEADER_ALIASES = {
    "会社名": "company", "企業名": "company", "会社名カナ": "company_kana",
    "会社名(カナ)": "company_kana", "url": "url", "ホームページ": "url", "ウェブサイト": "url",
    "業種": "industry", "都道府県": "prefecture", "市区町村": "city", "住所": "address",
    "電話番号": "phone", "従業員数": "employees", "資本金": "capital", "設立": "founded",
    "設立年": "founded", "タグ": "tags", "法人番号": "corporate_number",
}  # fmt: skip
_UTF8_BOM = codecs.BOM_UTF8


class ImportFormatError(AppError):
    """The file as a whole cannot be imported (nothing was written)."""


@dataclass
class CsvLayout:
    encoding: str  # "utf-8", "utf-8-sig" or "cp932"
    columns: dict[str, int]  # column name → index in a record
    header_width: int
    data_offset: int  # byte offset of the first data record
    header_lines: int = 1
    ascii_sample: bool = False  # the sniffed start was pure ASCII: later rows may be cp932


@dataclass
class Record:
    line: int
    raw: bytes | None  # None: over the size limit
    size: int


def records(fh: BinaryIO, lines_before: int = 0) -> Iterator[Record]:
    """Physical lines joined into CSV records (a quoted field may span lines), each bounded;
    ``line`` is the physical line number (1-based) where the record starts."""
    line_no = lines_before
    while True:
        start_line = line_no + 1
        parts: list[bytes] = []
        size = 0
        quotes = 0
        overlong = False
        while True:
            chunk = fh.readline(MAX_RECORD_BYTES + 1)
            if not chunk:
                break
            if not chunk.endswith(b"\n") and len(chunk) > MAX_RECORD_BYTES:
                # Skip the rest of this physical line without holding it.
                while chunk and not chunk.endswith(b"\n"):
                    size += len(chunk)
                    chunk = fh.readline(MAX_RECORD_BYTES + 1)
                size += len(chunk)
                line_no += 1
                overlong = True
                break
            line_no += 1
            size += len(chunk)
            if not overlong:
                if size > MAX_RECORD_BYTES:
                    overlong = True
                    parts = []
                else:
                    parts.append(chunk)
            quotes += chunk.count(b'"')
            if quotes % 2 == 0:
                break
        if size == 0:
            return
        yield Record(start_line, None if overlong else b"".join(parts), size)


def sniff_encoding(sample: bytes) -> tuple[str, bool]:
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ImportFormatError(
            "unsupported_encoding",
            "UTF-16 のCSVは読み込めません。UTF-8 または Shift_JIS で保存してください",
        )
    if sample.startswith(_UTF8_BOM):
        return "utf-8-sig", False
    if sample.isascii():
        return "utf-8", True
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", False
    except UnicodeDecodeError:
        pass
    try:
        codecs.getincrementaldecoder("cp932")().decode(sample, final=False)
        return "cp932", False
    except UnicodeDecodeError:
        raise ImportFormatError(
            "unknown_encoding",
            "CSVの文字コードを判別できません。UTF-8 または Shift_JIS で保存してください",
        ) from None


def decode(raw: bytes, layout: CsvLayout) -> str | None:
    encoding = "utf-8" if layout.encoding == "utf-8-sig" else layout.encoding
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        if layout.ascii_sample:
            try:
                return raw.decode("cp932")
            except UnicodeDecodeError:
                return None
        return None


def split(text_record: str) -> list[str]:
    return next(csv.reader((text_record,)), [])


def _header_name(cell: str) -> str:
    name = unicodedata.normalize("NFKC", cell).strip().lstrip("\ufeff").strip()
    lowered = name.lower()
    if lowered in COLUMNS:
        return lowered
    return HEADER_ALIASES.get(name, HEADER_ALIASES.get(lowered, ""))


def inspect(path: Path) -> CsvLayout:
    """Read the header and detect the encoding; raises :class:`ImportFormatError` (missing
    columns, unknown encoding, an empty file …) before anything is written."""
    with open(path, "rb") as fh:
        sample = fh.read(SNIFF_BYTES)
        encoding, ascii_sample = sniff_encoding(sample)
        fh.seek(len(_UTF8_BOM) if encoding == "utf-8-sig" else 0)
        first = next(records(fh), None)
        if first is None:
            raise ImportFormatError("empty_csv", "CSVファイルが空です")
        data_offset = fh.tell()
    if first.raw is None:
        raise ImportFormatError("invalid_header", "CSVの1行目（見出し）が長すぎます")
    layout = CsvLayout(encoding, {}, 0, data_offset, ascii_sample=ascii_sample)
    layout.header_lines = first.raw.count(b"\n") or 1
    decoded = decode(first.raw, layout)
    if decoded is None:
        raise ImportFormatError("unknown_encoding", "CSVの見出しの文字コードが正しくありません")
    cells = split(decoded)
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        name = _header_name(cell)
        if not name:
            continue
        if name in columns:
            raise ImportFormatError(
                "duplicate_column", f"CSVの見出しに「{cell.strip()}」が2回あります"
            )
        columns[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        expected = ",".join(COLUMNS[:10])
        raise ImportFormatError(
            "missing_columns",
            f"CSVの見出しに必須の列がありません：{', '.join(missing)}（見出しは {expected}）",
            details={"missing": missing, "expected": list(COLUMNS[:10])},
        )
    layout.columns = columns
    layout.header_width = len(cells)
    return layout
