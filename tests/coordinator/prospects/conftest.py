from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from shared.models import (
    MemberContact,
    Prospect,
    ProspectGram,
    SendAttempt,
    SendItem,
    TicketLedgerEntry,
)


@pytest.fixture
def only_this_tests_prospects(db: Session) -> None:
    """Other tests may leave committed prospects (and items pointing at them) in the shared
    database; hide them inside this test's transaction, which is rolled back afterwards."""
    db.execute(delete(SendAttempt))
    db.execute(delete(TicketLedgerEntry).where(TicketLedgerEntry.item_id.is_not(None)))
    db.execute(delete(MemberContact))
    db.execute(delete(SendItem))
    db.execute(delete(ProspectGram))
    db.execute(delete(Prospect))
    db.commit()  # a savepoint: the outer transaction still rolls all of it back
