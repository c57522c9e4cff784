"""``mikomi prospects import FILE.csv``: the prospect list from a CSV, with progress;
``mikomi prospects import-registry FILE.csv|FILE.zip``: the 法人番号 registry, resumable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from coordinator.prospects.importer import ImportProgress, ProgressFn

app = typer.Typer(no_args_is_help=True, help="見込客リスト (the prospect list)")


@app.command("import")
def import_csv(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="CSV: company,url,industry,prefecture,city,address,"
            "phone,employees,capital,founded",
        ),
    ],
    batch_size: Annotated[int, typer.Option(min=100, max=50_000)] = 5_000,
    show_rejected: Annotated[int, typer.Option(help="rejected rows to list")] = 20,
) -> None:
    """Import prospects (UTF-8 with or without BOM, or Shift_JIS), deduplicated by domain
    (rows without a URL: by company, prefecture, city, address and phone)."""
    from coordinator.errors import AppError
    from coordinator.prospects import import_reading, importer
    from shared.db import transaction

    console = _console_on_current_schema()
    try:
        import_reading.inspect(file)
    except AppError as exc:
        console.print(f"[red]取り込めません:[/red] {exc.message}")
        raise typer.Exit(1) from None
    with transaction() as db:
        job_id = importer.create_job(db, filename=file.name, created_by=None).id

    result = _with_bar(
        console,
        file,
        lambda on_progress: importer.run_import(
            file, job_id, sessions=transaction, batch_size=batch_size, on_progress=on_progress
        ),
    )
    _report_end(console, result, show_rejected)


def _console_on_current_schema() -> Console:
    from rich.console import Console

    from shared.db import get_engine
    from shared.migrate import ensure_current

    console = Console()
    try:
        ensure_current(get_engine())
    except Exception as exc:  # out-of-date schema: say so and stop
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    return console


def _with_bar(
    console: Console, file: Path, run: Callable[[ProgressFn], ImportProgress]
) -> ImportProgress:
    """Run an import with the progress bar (bytes of the file, rows so far)."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TextColumn("{task.fields[summary]}"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("取り込み中", total=file.stat().st_size, summary="")

        def on_progress(progress: ImportProgress) -> None:
            bar.update(task, completed=progress.bytes_read, summary=(
                f"{progress.imported:,}件 取込 / 重複 {progress.duplicates:,} / "
                f"不正 {progress.rejected:,}"))  # fmt: skip

        result = run(on_progress)
        bar.update(task, completed=file.stat().st_size)
    return result


def _report_end(console: Console, result: ImportProgress, show_rejected: int) -> None:
    console.print(
        f"取込 {result.imported:,}件 · 重複 {result.duplicates:,}件 · 不正 {result.rejected:,}件 "
        f"（全{result.rows_total:,}行, 取り込みジョブ {result.job_id}）"
    )
    rejected = [entry for entry in result.report if entry.get("line") is not None]
    for entry in rejected[:show_rejected]:
        console.print(f"  {entry['line']}行目: {entry['reason']}")
    if result.rejected > show_rejected:
        console.print(f"  … ほか {result.rejected - min(len(rejected), show_rejected):,}件")
    if result.status != "done":
        console.print(
            f"[red]中断しました:[/red] {result.error}（ここまでの取り込みは保存されています）"
        )
        raise typer.Exit(1)


@app.command("import-registry")
def import_registry(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help="国税庁 法人番号 全件データ / 差分データ (CSV or the downloaded ZIP)",
        ),
    ],
    batch_size: Annotated[int, typer.Option(min=100, max=100_000)] = 10_000,
    show_rejected: Annotated[int, typer.Option(help="rejected rows to list")] = 20,
) -> None:
    """Import the 法人番号 registry (Shift_JIS or Unicode, zipped or not): corporations are
    added or updated in place by corporate number, closed ones kept but never queued. Run it
    again on the same file after an interruption to resume from the last committed batch."""
    from coordinator.errors import AppError
    from coordinator.prospects import registry
    from shared.db import transaction

    console = _console_on_current_schema()
    try:
        registry.inspect(file)
    except AppError as exc:
        console.print(f"[red]取り込めません:[/red] {exc.message}")
        raise typer.Exit(1) from None
    with transaction() as db:
        job = registry.start_job(db, file, filename=file.name, created_by=None)
        job_id, resumed_at = job.id, job.resume_offset
    if resumed_at:
        console.print(f"取り込みジョブ {job_id} を {resumed_at:,}行目の後から再開します")
    result = _with_bar(
        console,
        file,
        lambda on_progress: registry.run_import(
            file, job_id, sessions=transaction, batch_size=batch_size, on_progress=on_progress
        ),
    )
    _report_end(console, result, show_rejected)
