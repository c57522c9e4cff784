"""Registry-shaped files for tests and the benchmark: the 法人番号 CSV layout
(coordinator/prospects/registry.py) with made-up corporations. No real file is needed.

``write_registry(path, rows)`` writes a full-data file (every corporation once, latest=1);
``changes`` makes a change file (new names, moves, closures) for some of them. Zipped and
Shift_JIS variants are chosen by the arguments."""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from formfill import PREFECTURES

KINDS = {"301": "株式会社", "302": "有限会社", "305": "合同会社", "304": "合資会社"}
_STEMS = (
    "サクラ", "アオバ", "ミライ", "ヒカリ", "フジ", "ツバサ", "ヤマト", "アサヒ", "グローバル",
    "ネクスト", "テクノ", "クリエイト", "ライフ", "エコ", "スマイル", "佐藤", "鈴木", "高橋",
    "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤",
)  # fmt: skip
_KANA = {
    "佐藤": "サトウ", "鈴木": "スズキ", "高橋": "タカハシ", "田中": "タナカ", "伊藤": "イトウ",
    "渡辺": "ワタナベ", "山本": "ヤマモト", "中村": "ナカムラ", "小林": "コバヤシ", "加藤": "カトウ",
}  # fmt: skip
_SUFFIXES = (
    ("建設", "ケンセツ"), ("商事", "ショウジ"), ("工業", "コウギョウ"), ("製作所", "セイサクショ"),
    ("不動産", "フドウサン"), ("運輸", "ウンユ"), ("システムズ", "システムズ"), ("フーズ", "フーズ"),
)  # fmt: skip
_CITIES = (
    "千代田区",
    "中央区",
    "港区",
    "北区",
    "横浜市中区",
    "大阪市北区",
    "名古屋市中区",
    "札幌市中央区",
)


def check_digit(body: str) -> str:
    """The leading check digit of a 法人番号 for its 12-digit body."""
    total = sum(int(d) * (1 if i % 2 == 0 else 2) for i, d in enumerate(reversed(body)))
    return str(9 - total % 9)


def corporate_number(index: int) -> str:
    body = f"{index + 100_000_000_000:012d}"
    return check_digit(body) + body


@dataclass(frozen=True)
class Corporation:
    number: str
    name: str
    kana: str
    prefecture: str
    city: str
    street: str
    kind: str = "301"
    process: str = "01"
    updated: str = "2026-10-30"
    close_date: str = ""
    latest: str = "1"


def corporations(rows: int, seed: int = 20261130) -> Iterator[Corporation]:
    rng = random.Random(seed)
    for i in range(rows):
        stem = rng.choice(_STEMS)
        suffix, suffix_kana = rng.choice(_SUFFIXES)
        kind = rng.choice(tuple(KINDS))
        form = KINDS[kind]
        front = rng.random() < 0.5
        name = f"{form}{stem}{suffix}" if front else f"{stem}{suffix}{form}"
        kana = _KANA.get(stem, stem) + suffix_kana
        yield Corporation(
            number=corporate_number(i),
            name=name,
            kana=kana,
            prefecture=PREFECTURES[min(int(rng.expovariate(0.12)), 46)],
            city=rng.choice(_CITIES),
            street=f"{rng.randint(1, 9)}丁目{rng.randint(1, 30)}番{rng.randint(1, 20)}号",
            kind=kind,
        )


def record(corp: Corporation, sequence: int) -> list[str]:
    """The 30 columns of one registry row."""
    return [
        str(sequence), corp.number, corp.process, "0", corp.updated, corp.updated, corp.name,
        "", corp.kind, corp.prefecture, corp.city, corp.street, "", "13", "101", "1000001", "",
        "", corp.close_date, "01" if corp.close_date else "", "", "", "2015-10-05", corp.latest,
        "", "", "", "", corp.kana, "0",
    ]  # fmt: skip


def changes(
    base: Iterable[Corporation], every: int = 10, updated: str = "2026-11-30"
) -> Iterator[Corporation]:
    """A change file's corporations: of every ``every``-th one, a new name (11), a move (12)
    or a closure (21), in turn."""
    for i, corp in enumerate(base):
        if i % every:
            continue
        turn = (i // every) % 3
        if turn == 0:
            yield replace(corp, name=corp.name + "ホールディングス", process="11", updated=updated)
        elif turn == 1:
            yield replace(corp, prefecture="沖縄県", city="那覇市", process="12", updated=updated)
        else:
            yield replace(corp, process="21", updated=updated, close_date=updated)


def write_registry(
    path: Path,
    corps: Iterable[Corporation],
    *,
    encoding: str = "utf-8",
    zipped: bool = False,
) -> int:
    """Write ``corps`` as a registry CSV (``encoding`` utf-8, utf-8-sig or cp932), zipped as
    the download is when ``zipped``; → the number of rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0

    def write(fh: io.TextIOBase) -> None:
        nonlocal count
        writer = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        for count, corp in enumerate(corps, start=1):  # noqa: B007
            writer.writerow(record(corp, count))

    if zipped:
        with (
            zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            archive.open(path.stem + ".csv", "w") as member,
            io.TextIOWrapper(member, encoding=encoding, newline="") as text_member,
        ):
            write(text_member)
    else:
        with open(path, "w", encoding=encoding, newline="") as fh:
            write(fh)
    return count
