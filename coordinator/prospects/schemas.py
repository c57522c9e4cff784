"""Shapes of the prospect API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class ProspectOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    company: str
    company_kana: str
    url: str
    domain: str | None
    industry: str
    prefecture: str
    city: str
    address: str
    phone: str
    employees: int | None
    capital: int | None
    founded: int | None


class ProspectPage(BaseModel):
    total: int
    items: list[ProspectOut]
    list_url: str  # the full URL of this search without paging (リストURL)
    query: str  # its canonical query string
    page: int
    per_page: int
    pages: int


class ImportJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    filename: str
    status: str  # running | done | failed
    rows_total: int
    rows_imported: int
    rows_duplicate: int
    rows_rejected: int
    report: list[dict[str, Any]] | None
    failure_reason: str | None = None  # why a failed import stopped, in words
    created_at: datetime
    finished_at: datetime | None


class ImportJobList(BaseModel):
    jobs: list[ImportJobOut]
