"""The script JSON of docs/rules.md#scripts, exactly; unknown keys are refused so typos do not
vanish."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

Text200 = Annotated[StrictStr, Field(max_length=200)]
Text100 = Annotated[StrictStr, Field(max_length=100)]

MAX_BODY_CHARS = 10_000
MAX_INQUIRY_TYPES = 20


class Sender(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: Text200 = ""
    company_kana: Text200 = ""
    department: Text100 = ""
    position: Text100 = ""
    last_name: Text100 = ""
    first_name: Text100 = ""
    last_name_kana: Text100 = ""
    first_name_kana: Text100 = ""
    email: Annotated[StrictStr, Field(max_length=254)] = ""
    phone: Annotated[StrictStr, Field(max_length=30)] = ""
    postal_code: Annotated[StrictStr, Field(max_length=10)] = ""
    prefecture: Annotated[StrictStr, Field(max_length=10)] = ""
    city: Text100 = ""
    address: Text200 = ""
    building: Text200 = ""
    url: Annotated[StrictStr, Field(max_length=500)] = ""


class ScriptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text200
    sender: Sender
    subject: Text200 = ""
    body: Annotated[StrictStr, Field(max_length=MAX_BODY_CHARS)]
    inquiry_type_preference: Annotated[
        list[Annotated[StrictStr, Field(max_length=50)]], Field(max_length=MAX_INQUIRY_TYPES)
    ] = Field(default_factory=list)
    # 反響 (docs/rules.md#responses): fill forms with the item's own reply address, and send
    # the body's URLs through click-counting redirects.
    capture_replies: StrictBool = False
    track_clicks: StrictBool = False


class SenderPatch(BaseModel):
    """Only the sender keys sent are changed."""

    model_config = ConfigDict(extra="forbid")

    company: Text200 | None = None
    company_kana: Text200 | None = None
    department: Text100 | None = None
    position: Text100 | None = None
    last_name: Text100 | None = None
    first_name: Text100 | None = None
    last_name_kana: Text100 | None = None
    first_name_kana: Text100 | None = None
    email: Annotated[StrictStr, Field(max_length=254)] | None = None
    phone: Annotated[StrictStr, Field(max_length=30)] | None = None
    postal_code: Annotated[StrictStr, Field(max_length=10)] | None = None
    prefecture: Annotated[StrictStr, Field(max_length=10)] | None = None
    city: Text100 | None = None
    address: Text200 | None = None
    building: Text200 | None = None
    url: Annotated[StrictStr, Field(max_length=500)] | None = None


class ScriptPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text200 | None = None
    sender: SenderPatch | None = None
    subject: Text200 | None = None
    body: Annotated[StrictStr, Field(max_length=MAX_BODY_CHARS)] | None = None
    inquiry_type_preference: (
        Annotated[
            list[Annotated[StrictStr, Field(max_length=50)]], Field(max_length=MAX_INQUIRY_TYPES)
        ]
        | None
    ) = None
    capture_replies: StrictBool | None = None
    track_clicks: StrictBool | None = None


class ScriptOut(BaseModel):
    id: int
    member_id: int
    label: str  # 「7 : 顧客獲得スクリプト」, as in the reservation form's select
    name: str
    sender: Sender
    subject: str
    body: str
    inquiry_type_preference: list[str]
    capture_replies: bool = False
    track_clicks: bool = False
    created_at: datetime
    updated_at: datetime


class ScriptList(BaseModel):
    scripts: list[ScriptOut]


class Preview(BaseModel):
    script_id: int
    prospect_id: int | None
    company: str
    optout_url: str
    subject: str
    body: str
