from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from coordinator.dependencies import DB, CurrentUser, Member
from coordinator.scripts import service
from coordinator.scripts.schemas import (
    Preview,
    ScriptIn,
    ScriptList,
    ScriptOut,
    ScriptPatch,
    Sender,
)
from shared.models import Script

router = APIRouter(prefix="/api/v1", tags=["scripts"])


def _out(script: Script) -> ScriptOut:
    c = script.content
    return ScriptOut(
        id=script.id,
        member_id=script.member_id,
        label=service.script_label(script),
        name=script.name,
        sender=Sender.model_validate(c.get("sender", {})),
        subject=c.get("subject", ""),
        body=c.get("body", ""),
        inquiry_type_preference=list(c.get("inquiry_type_preference", [])),
        capture_replies=bool(c.get("capture_replies")),
        track_clicks=bool(c.get("track_clicks")),
        created_at=script.created_at,
        updated_at=script.updated_at,
    )


@router.post("/scripts", response_model=ScriptOut, status_code=201)
def create_script(body: ScriptIn, member: Member, db: DB) -> ScriptOut:
    return _out(service.create(db, member, body))


@router.get("/scripts", response_model=ScriptList)
def list_scripts(
    user: CurrentUser,
    db: DB,
    member_id: Annotated[int | None, Query(description="operators: one member")] = None,
) -> ScriptList:
    return ScriptList(scripts=[_out(s) for s in service.list_for(db, user, member_id)])


@router.get("/scripts/{script_id}", response_model=ScriptOut)
def get_script(script_id: int, user: CurrentUser, db: DB) -> ScriptOut:
    return _out(service.get_visible(db, user, script_id))


@router.patch("/scripts/{script_id}", response_model=ScriptOut)
def update_script(script_id: int, body: ScriptPatch, member: Member, db: DB) -> ScriptOut:
    return _out(service.update(db, member, script_id, body))


@router.delete("/scripts/{script_id}", status_code=204)
def delete_script(script_id: int, member: Member, db: DB) -> Response:
    service.delete(db, member, script_id)
    return Response(status_code=204)


@router.get("/scripts/{script_id}/preview", response_model=Preview)
def preview_script(
    script_id: int, user: CurrentUser, db: DB, prospect_id: Annotated[int | None, Query()] = None
) -> Preview:
    script, company, optout_url, message = service.preview(db, user, script_id, prospect_id)
    return Preview(
        script_id=script.id,
        prospect_id=prospect_id,
        company=company,
        optout_url=optout_url,
        subject=message.subject,
        body=message.body,
    )
