"""Two reservations of one member created at the same moment from the same list (PostgreSQL,
real commits on separate connections): one gets the list, the other is told the list is
empty — no prospect is ever queued twice for a member, and the tickets are held once each."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from coordinator.accounts.service import Principal
from coordinator.errors import AppError
from coordinator.reservations import service
from shared import ledger
from shared.enums import Role
from shared.models import Member, SendItem, User
from tests.builders import (
    give_tickets,
    list_url,
    make_prospects,
    make_script,
)


def test_concurrent_creations_never_queue_a_prospect_twice(engines: dict[str, Engine]) -> None:
    engine = engines["postgresql"]
    tag = uuid.uuid4().hex[:8]
    with Session(engine) as db:
        member = Member(company_name=f"同時実行{tag}")
        db.add(member)
        db.flush()
        user = User(
            email=f"race-{tag}@example.test",
            password_hash="-",
            role="member",
            member_id=member.id,
            name="会員",
        )
        db.add(user)
        db.flush()
        give_tickets(db, member.id, 1_000)
        script_id = make_script(db, member.id).id
        industry = make_prospects(db, 600)
        db.commit()
        principal = Principal(user.id, Role.MEMBER, member.id, user.email, user.name)
        member_id = member.id

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def create() -> None:
        with Session(engine) as db:
            barrier.wait(timeout=30)
            try:
                service.create(
                    db,
                    principal,
                    count=300,
                    senders=1,
                    list_url=list_url(industry),
                    script_id=script_id,
                )
                db.commit()
                outcomes.append("created")
            except AppError as exc:
                db.rollback()
                outcomes.append(exc.code)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == ["created", "list_empty"]
    with Session(engine) as db:
        twice = db.execute(
            select(SendItem.domain)
            .where(SendItem.member_id == member_id)
            .group_by(SendItem.domain)
            .having(func.count() > 1)
        ).all()
        assert twice == []
        queued = db.scalar(
            select(func.count()).select_from(SendItem).where(SendItem.member_id == member_id)
        )
        assert queued == 600
        bal = ledger.balance(db, member_id)
        assert (bal.held, bal.available) == (300, 700)
