"""``mikomi prospects import FILE.csv``: the prospect list from a CSV, with progress."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from coordinator.errors import AppError
    from coordinator.prospects import import_reading, importer
    from shared.db import get_engine, transaction
    from shared.migrate import ensure_current

    console = Console()
    try:
        ensure_current(get_engine())
    except Exception as exc:  # out-of-date schema: say so and stop
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        import_reading.inspect(file)
    except AppError as exc:
        console.print(f"[red]取り込めません:[/red] {exc.message}")
        raise typer.Exit(1) from None
    with transaction() as db:
        job_id = importer.create_job(db, filename=file.name, created_by=None).id

    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TextColumn("{task.fields[summary]}"), TimeRemainingColumn(),
    )  # fmt: skip
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("取り込み中", total=file.stat().st_size, summary="")

        def on_progress(progress: importer.ImportProgress) -> None:
            bar.update(task, completed=progress.bytes_read, summary=(
                f"{progress.imported:,}件 取込 / 重複 {progress.duplicates:,} / "
                f"不正 {progress.rejected:,}"))  # fmt: skip

        result = importer.run_import(
            file, job_id, sessions=transaction, batch_size=batch_size, on_progress=on_progress
        )
        bar.update(task, completed=file.stat().st_size)

    console.print(
        f"取込 {result.imported:,}件 · 重複 {result.duplicates:,}件 · 不正 {result.rejected:,}件 "
        f"（全{result.rows_total:,}行, 取り込みジョブ {job_id}）"
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
