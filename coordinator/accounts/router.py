from __future__ import annotations

from fastapi import APIRouter

from coordinator.accounts import service
from coordinator.accounts.schemas import Me, TokenRequest, TokenResponse
from coordinator.dependencies import DB, CurrentUser

router = APIRouter(prefix="/api/v1", tags=["auth"])


@router.post("/auth/token", response_model=TokenResponse)
def create_token(body: TokenRequest, db: DB) -> TokenResponse:
    user = service.authenticate(db, body.email, body.password)
    token, _ = service.issue_token(db, user, "api")
    return TokenResponse(access_token=token)


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(id=user.user_id, email=user.email, role=user.role.value, member_id=user.member_id,
              name=user.name)
