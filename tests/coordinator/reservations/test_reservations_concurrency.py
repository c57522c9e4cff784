"""Two reservations of one member created at the same moment from the same list (PostgreSQL,
real commits on separate connections): one gets the list, the other is told the list is
empty — no prospect is ever queued twice for a member, and the tickets are held once each."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from coordinator.errors import AppError
from coordinator.reservations import service
from shared import ledger
from shared.models import SendItem
from tests.builders import (
    give_tickets,
    list_url,
    make_bare_user,
    make_prospects,
    make_script,
    principal_of,
)


def test_concurrent_creations_never_queue_a_prospect_twice(engines: dict[str, Engine]) -> None:
    engine = engines["postgresql"]
    with Session(engine) as db:
        user = make_bare_user(db)
        member_id = user.member_id
        give_tickets(db, member_id, 1_000)
        script_id = make_script(db, member_id).id
        industry = make_prospects(db, 600)
        db.commit()
        principal = principal_of(user)

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
