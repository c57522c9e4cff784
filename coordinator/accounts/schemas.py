from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class TokenRequest(BaseModel):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Me(BaseModel):
    id: int
    email: str
    role: str
    member_id: int | None
    name: str
    # Only for cookie sessions: the value to send as X-CSRF-Token (or form field csrf_token).
    csrf_token: str | None = None


class SessionResponse(BaseModel):
    user: Me
    csrf_token: str
    expires_at: datetime
