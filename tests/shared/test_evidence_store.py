"""Evidence on S3 (a real S3 API on loopback: moto's server): a worker's screenshots go to the
bucket, not to its own disk, and any coordinator serves them to the reservation's member and
to nobody else."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from fixtures.server import FixtureServer
from shared import evidence_store, items, migrate
from shared.config import get_settings
from shared.db import make_engine, reset_engine
from shared.enums import Role
from shared.models import Member, SendItem
from tests.builders import make_reservation

BUCKET = "mikomi-evidence"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_workers_screenshots_are_served_from_s3(
    s3: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coordinator.accounts import service as accounts
    from coordinator.app import create_app

    url = f"sqlite:///{tmp_path / 'e.db'}"
    migrate.upgrade(url)
    for key, value in {
        "MIKOMI_DATABASE_URL": url,
        "MIKOMI_EVIDENCE_URL": f"s3://{BUCKET}/fleet-a",
        "MIKOMI_S3_ENDPOINT_URL": s3,
        "MIKOMI_ALLOW_PRIVATE": "1",
        "MIKOMI_VAR_DIR": str(tmp_path / "var"),
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    evidence_store._cached.cache_clear()
    reset_engine()
    engine = make_engine(url)  # its SQLite connections have the keyword index's function
    try:
        with FixtureServer(generated=0) as sites, Session(engine) as db:
            reservation = make_reservation(
                db, urls=[("株式会社テスト商事", sites.url_for("cf7-basic"))]
            )
            owner = accounts.create_user(
                db, email="owner@example.test", password="password-123", role=Role.MEMBER,
                company="x",
            )  # fmt: skip
            owner.member_id = reservation.member_id
            stranger = accounts.create_user(
                db, email="other@example.test", password="password-123", role=Role.MEMBER,
                company="他社",
            )  # fmt: skip
            mine = {"Authorization": f"Bearer {accounts.issue_token(db, owner, 'api')[0]}"}
            theirs = {"Authorization": f"Bearer {accounts.issue_token(db, stranger, 'api')[0]}"}
            [(item_id, token)] = items.claim(db, reservation.id, 1)
            db.commit()
            from worker import jobs

            try:
                assert jobs.send_item(item_id, token)["status"] == "sent"
            finally:
                jobs.close_sender()
            assert sites.submissions("cf7-basic")
            rid = reservation.id
            assert db.get(Member, reservation.member_id) is not None
            assert db.scalar(select(SendItem.state).where(SendItem.id == item_id)) == "sent"
        # In the bucket, not on the worker's disk.
        listed = boto3.client("s3", endpoint_url=s3).list_objects_v2(
            Bucket=BUCKET, Prefix=f"fleet-a/{rid}/{item_id}/"
        )
        keys = [o["Key"] for o in listed.get("Contents", [])]
        assert any(k.endswith((".jpg", ".jpeg", ".png")) for k in keys), keys
        assert not (tmp_path / "var" / "evidence").exists()
        # Served by a coordinator (which has no local copy) to the member who owns it only.
        with TestClient(create_app()) as client:
            page = client.get(f"/api/v1/reservations/{rid}/items", headers=mine).json()
            links = page["items"][0]["evidence_links"]
            assert links and len(links) == len(keys)
            shot = next(link for link in links if link.endswith((".jpg", ".jpeg", ".png")))
            served = client.get(shot, headers=mine)
            assert served.status_code == 200 and served.headers["content-type"].startswith("image/")
            name = shot.rsplit("/", 1)[1]
            stored = (
                boto3.client("s3", endpoint_url=s3)
                .get_object(Bucket=BUCKET, Key=f"fleet-a/{rid}/{item_id}/{name}")["Body"]
                .read()
            )
            assert served.content == stored
            assert client.get(shot, headers=theirs).status_code == 404
            assert client.get(shot).status_code == 401
    finally:
        engine.dispose()
        get_settings.cache_clear()
        evidence_store._cached.cache_clear()
        reset_engine()
