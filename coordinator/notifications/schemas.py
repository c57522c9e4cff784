from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, computed_field

from shared import labels


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    member_id: int | None
    for_operators: bool
    reservation_id: int | None
    data: dict[str, Any] | None
    created_at: datetime
    read_at: datetime | None
    emailed_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind_ja(self) -> str:
        """The kind as the お知らせ page shows it."""
        return labels.label(labels.NOTIFICATION_KIND, self.kind)


class NotificationList(BaseModel):
    notifications: list[NotificationOut]
    unread: int
