"""Prospect CSV upload from the operator page: the file is streamed to disk, then imported by
the prospects importer in a background thread, one committed transaction per batch, so the
page can show the job's progress while it runs."""

from __future__ import annotations

import logging
import threading
import uuid
from pathlib import Path

from starlette.datastructures import UploadFile

from coordinator.prospects import importer
from shared.config import get_settings
from shared.db import session_scope

log = logging.getLogger(__name__)

CHUNK = 1 << 20
MAX_UPLOAD_BYTES = 2_000_000_000


def upload_dir() -> Path:
    path = get_settings().var_dir / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def start_upload_import(upload: UploadFile, *, filename: str, created_by: int) -> int:
    target = upload_dir() / f"{uuid.uuid4().hex}.csv"
    written = 0
    with open(target, "wb") as out:
        while chunk := await upload.read(CHUNK):
            written += len(chunk)
            if written > MAX_UPLOAD_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                raise importer.ImportFormatError(
                    "file_too_large", "ファイルが大きすぎます（上限2GB）"
                )
            out.write(chunk)
    # Committed at once (not with the request) so the thread and the progress poll see it.
    with session_scope() as db:
        job_id = importer.create_job(db, filename=filename, created_by=created_by).id
    thread = threading.Thread(
        target=_run, args=(target, job_id), name=f"prospect-import-{job_id}", daemon=True
    )
    thread.start()
    return job_id


def _run(path: Path, job_id: int) -> None:
    try:
        importer.run_import(path, job_id, sessions=session_scope)
    except Exception:
        log.exception("prospect import %s failed", job_id)
    finally:
        path.unlink(missing_ok=True)
