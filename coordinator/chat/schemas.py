from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

MAX_MESSAGE_CHARS = 5_000  # the API's schema, and the service for the chat page too


class MessageCreate(BaseModel):
    body: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)]


class MessageOut(BaseModel):
    id: int
    reservation_id: int
    author_user_id: int
    author_name: str
    author_role: str  # member | operator: which side of the thread
    body: str
    created_at: datetime


class ThreadOut(BaseModel):
    """One reservation's chat as the operators' inbox lists it."""

    reservation_id: int
    status: str
    company: str
    messages: int
    last_at: datetime
    last_body: str


class MessageList(BaseModel):
    reservation_id: int
    messages: list[MessageOut]
