"""Demo data for ``mikomi up``: a member with paid tickets and a script, an operator, and the
demo prospects (the locally served fixture sites). Idempotent: running it again adds nothing
that is already there. Everything goes through the domain services."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.config import PROJECT_ROOT
from shared.db import transaction
from shared.enums import PaymentMethod, Role
from shared.models import Script, TicketOrder, User

DEMO_MEMBER_EMAIL = "demo@mikomi.local"
DEMO_OPERATOR_EMAIL = "operator@mikomi.local"
DEMO_PASSWORD = "mikomi-demo"
DEMO_COMPANY = "デモ株式会社"
DEMO_CONTACT = "デモ 太郎"
DEMO_TICKETS = 10_000
TEST_CARD = "4242 4242 4242 4242"
SCRIPT_FILE = PROJECT_ROOT / "fixtures" / "scripts" / "qa.json"


def _user(db: Session, email: str, role: Role, name: str, company: str | None) -> User:
    from coordinator.accounts import service as accounts

    user = db.scalar(select(User).where(User.email == email))
    if user is None:
        user = accounts.create_user(
            db, email=email, password=DEMO_PASSWORD, role=role, company=company, name=name
        )
    return user


def _principal(user: User) -> Any:
    from coordinator.accounts.service import Principal

    return Principal(
        user_id=user.id,
        role=Role(user.role),
        member_id=user.member_id,
        email=user.email,
        name=user.name,
    )


def _ensure_tickets(db: Session, member: User) -> None:
    from coordinator.tickets import service as tickets
    from coordinator.tickets.gateway import TestGateway

    paid = db.scalar(
        select(func.count())
        .select_from(TicketOrder)
        .where(TicketOrder.member_id == member.member_id, TicketOrder.paid_on.is_not(None))
    )
    if paid:
        return
    tickets.place_order(
        db,
        _principal(member),
        quantity=DEMO_TICKETS,
        company_name=DEMO_COMPANY,
        contact_name=DEMO_CONTACT,
        payment_method=PaymentMethod.CARD,
        card_number=TEST_CARD,
        # The demo's own purchase, whatever MIKOMI_PAYMENTS says in this process: the test card.
        gateway=TestGateway(),
    )


def _ensure_script(db: Session, member: User) -> Script:
    content = json.loads(SCRIPT_FILE.read_text(encoding="utf-8"))
    existing = db.scalar(
        select(Script).where(
            Script.member_id == member.member_id,
            Script.name == content["name"],
            Script.deleted_at.is_(None),
        )
    )
    if existing is not None:
        return existing
    from coordinator.scripts import service as scripts
    from coordinator.scripts.schemas import ScriptIn

    return scripts.create(db, _principal(member), ScriptIn.model_validate(content))


def _import_prospects(csv_path: Path, operator_id: int) -> tuple[int, int]:
    from coordinator.prospects import importer

    with transaction() as db:
        job_id = importer.create_job(db, filename=csv_path.name, created_by=operator_id).id
    progress = importer.run_import(csv_path, job_id, sessions=transaction)
    if progress.status != "done":
        raise RuntimeError(f"demo prospect import failed: {progress.error}")
    return progress.imported, progress.duplicates


def seed_demo(csv_path: Path, console: Any) -> list[str]:
    """Create (once) the demo member and operator, 10,000 paid tickets, the QA script and the
    demo prospects of ``csv_path``; return the lines to print (URL and credentials)."""
    with transaction() as db:
        member = _user(db, DEMO_MEMBER_EMAIL, Role.MEMBER, DEMO_CONTACT, DEMO_COMPANY)
        operator = _user(db, DEMO_OPERATOR_EMAIL, Role.OPERATOR, "デモ 運営", None)
        _ensure_tickets(db, member)
        script = _ensure_script(db, member)
        operator_id, script_id = operator.id, script.id
    imported, duplicates = _import_prospects(csv_path, operator_id)
    console.print(
        f"  demo data ready: {imported:,} prospects imported ({duplicates:,} already there), "
        f"script {script_id}"
    )
    return [
        f"demo member:   {DEMO_MEMBER_EMAIL} / {DEMO_PASSWORD}  ({DEMO_COMPANY}, {DEMO_TICKETS:,} tickets)",
        f"demo operator: {DEMO_OPERATOR_EMAIL} / {DEMO_PASSWORD}",
        "log in at /login of the URL above, then 予約代行フォーム → 見込客リストから検索 → "
        "リストURL → reserve 300 (the operator approves under 承認)",
    ]
