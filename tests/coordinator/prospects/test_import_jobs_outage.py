"""An import job that stops because the database went away keeps its stored file
(coordinator/prospects/import_jobs.py ``run_import_job``): it may still be running as far as
its row says, so the sweeper resumes it from the file once the database is back. (Its check
of the row failed too, and the file was deleted as if the job had ended.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from coordinator.prospects import import_jobs
from shared.config import get_settings
from shared.db import reset_engine, transaction
from tests.support.databases import PG_ADMIN_URL
from tests.support.imports import HEADER, Imports, csv_rows, imports

__all__ = ["imports"]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


def test_a_database_outage_keeps_the_stored_file(
    imports: Imports, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = imports.upload(HEADER + csv_rows(3), "outage.csv")
    name = import_jobs.upload_name(job_id, import_jobs.PROSPECTS)
    assert imports.stored() == [name]

    def database_goes_away(path: Path, job_id: int) -> import_jobs.ImportRunResult:
        # The database is out of reach from here on (nothing listens on its port).
        monkeypatch.setenv("MIKOMI_DATABASE_URL", f"{PG_ADMIN_URL.split('@')[0]}@127.0.0.1:1/gone")
        get_settings.cache_clear()
        reset_engine()
        with transaction() as db:
            db.execute(text("SELECT 1"))
        raise AssertionError("the database answered")

    monkeypatch.setitem(import_jobs.KINDS, import_jobs.PROSPECTS, database_goes_away)
    with pytest.raises(Exception, match="127.0.0.1"):
        import_jobs.run_import_job(job_id, import_jobs.PROSPECTS, name)
    assert imports.stored() == [name]  # the sweeper resumes from it
