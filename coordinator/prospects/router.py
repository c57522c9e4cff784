"""Prospect list API: search, CSV export, CSV import (operators) and import progress."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from coordinator.database import read_form, receiving_body
from coordinator.dependencies import DB, CurrentUser, Operator
from coordinator.errors import AppError
from coordinator.prospects import import_jobs, search, service, upload
from coordinator.prospects.schemas import ImportJobList, ImportJobOut, ProspectPage

router = APIRouter(prefix="/api/v1", tags=["prospects"])

# Declared for the OpenAPI document; the values are parsed (with Japanese errors) by the service.
Text = Annotated[str | None, Query()]
Many = Annotated[list[str] | None, Query()]


def get_import_runner() -> service.ImportRunner:
    """Where an accepted import runs: an RQ job on the imports queue, taken by an import worker
    on any host (tests may run it inline)."""
    return import_jobs.launcher(import_jobs.PROSPECTS)


ImportRunner = Annotated[service.ImportRunner, Depends(get_import_runner)]


def search_query(
    request: Request,
    keyword: Text = None,
    industry: Many = None,
    prefecture: Many = None,
    employees_min: Text = None,
    employees_max: Text = None,
    capital_min: Text = None,
    capital_max: Text = None,
    has_url: Text = None,
    exclude_contacted: Text = None,
    exclude_suppressed: Text = None,
    page: Text = None,
    per_page: Text = None,
) -> search.ProspectQuery:
    """The search of the query string (the named parameters document it in OpenAPI)."""
    return service.parse_query(request.query_params.multi_items())


Query_ = Annotated[search.ProspectQuery, Depends(search_query)]


@router.get("/prospects", response_model=ProspectPage)
def search_prospects(q: Query_, db: DB, user: CurrentUser) -> ProspectPage:
    return service.search_page(db, user, q)


@router.get("/prospects.csv", response_class=StreamingResponse)
def export_prospects(q: Query_, db: DB, user: CurrentUser) -> StreamingResponse:
    """The current results (paging ignored) as CSV: UTF-8 with BOM, Japanese header."""
    filename = service.export_filename()
    return StreamingResponse(
        service.export_csv(db, user, q),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.post("/prospects/import", response_model=ImportJobOut, status_code=202)
async def import_prospects(
    request: Request, db: DB, user: Operator, runner: ImportRunner, filename: str = ""
) -> ImportJobOut:
    """Upload a prospect CSV (multipart field ``file``, or the raw body with ``?filename=``).
    The header is checked at once; the rows are imported in the background — poll
    ``GET /api/v1/prospects/imports/{id}``."""
    content_type = request.headers.get("content-type", "")
    try:
        chunks = request.stream()
        async with receiving_body(request):
            path, name = await upload.receive(chunks, content_type, filename, service.import_dir())
    except RuntimeError:
        # The cookie/CSRF check already parsed the form: take the file from it.
        form = await read_form(request)
        uploaded = form.get("file")
        if not isinstance(uploaded, UploadFile):
            raise AppError("missing_file", "CSVファイルを選択してください", field="file") from None
        path, name = await upload.receive(
            _read(uploaded),
            "application/octet-stream",
            uploaded.filename or filename,
            service.import_dir(),
        )
    job = service.start_import(db, user, path, name, runner)
    return ImportJobOut.model_validate(job)


async def _read(uploaded: UploadFile):  # type: ignore[no-untyped-def]
    while chunk := await uploaded.read(1 << 20):
        yield chunk


@router.get("/prospects/imports", response_model=ImportJobList)
def list_imports(db: DB, user: Operator) -> ImportJobList:
    return ImportJobList(jobs=service.list_imports(db))


@router.get("/prospects/imports/{job_id}", response_model=ImportJobOut)
def get_import(job_id: int, db: DB, user: Operator) -> ImportJobOut:
    return service.get_import(db, job_id)
