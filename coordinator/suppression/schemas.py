"""Shapes of the suppression API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GlobalReason = Literal["optout", "refused_sales", "complaint", "manual"]


class SuppressionIn(BaseModel):
    domain: str = Field(min_length=1, max_length=1000, description="ドメインまたはURL")
    reason: GlobalReason = "manual"
    note: str = Field(default="", max_length=300)


class NgDomainIn(BaseModel):
    domain: str = Field(min_length=1, max_length=1000, description="ドメインまたはURL")
    note: str = Field(default="", max_length=300)


class SuppressionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    domain: str
    reason: str
    note: str
    created_at: datetime


class SuppressionList(BaseModel):
    total: int
    items: list[SuppressionOut]
