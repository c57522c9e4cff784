"""Redis with a password, an ACL user and TLS: every part connects by MIKOMI_REDIS_URL alone
(``redis://user:password@host/0``, ``rediss://…?ssl_ca_certs=…``), and RQ works over it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import AuthenticationError, ConnectionError
from rq import Queue
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from shared.config import get_settings
from shared.redis_conn import _redis_for, get_redis
from worker.rq_worker import SendWorker

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def secured_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A redis-server of the test's own: an ACL user on a plain port, TLS on another."""
    folder = tmp_path_factory.mktemp("redis-tls")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    plain, tls = _free_port(), _free_port()
    proc = subprocess.Popen(
        [
            "redis-server", "--bind", "127.0.0.1", "--port", str(plain),
            "--tls-port", str(tls), "--tls-cert-file", str(folder / "cert.pem"),
            "--tls-key-file", str(folder / "key.pem"),
            "--tls-ca-cert-file", str(folder / "cert.pem"), "--tls-auth-clients", "no",
            "--save", "", "--appendonly", "no", "--dir", str(folder),
            "--user", "default", "off",
            "--user", "mikomi", "on", ">worker-secret", "~*", "&*", "+@all",
        ],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis(port=plain, username="mikomi", password="worker-secret").ping()
                break
            except ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield {
            "auth": f"redis://mikomi:worker-secret@127.0.0.1:{plain}/0",
            "wrong": f"redis://mikomi:wrong@127.0.0.1:{plain}/0",
            "anonymous": f"redis://127.0.0.1:{plain}/0",
            "tls": (
                f"rediss://mikomi:worker-secret@127.0.0.1:{tls}/0"
                f"?ssl_ca_certs={folder / 'cert.pem'}&ssl_cert_reqs=required"
            ),
            "tls_untrusted": f"rediss://mikomi:worker-secret@127.0.0.1:{tls}/0?ssl_cert_reqs=required",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connect(url: str, monkeypatch: pytest.MonkeyPatch) -> Redis:  # type: ignore[type-arg]
    monkeypatch.setenv("MIKOMI_REDIS_URL", url)
    get_settings.cache_clear()
    _redis_for.cache_clear()
    return get_redis()


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()
    _redis_for.cache_clear()


@pytest.mark.parametrize("kind", ["auth", "tls"])
def test_rq_runs_over_an_acl_user_and_tls(
    secured_redis: dict[str, str], kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    redis = _connect(secured_redis[kind], monkeypatch)
    assert redis.ping()
    queue = Queue(f"t-{uuid.uuid4().hex[:6]}", connection=redis, serializer=JSONSerializer)
    job = queue.enqueue("os.getcwd")  # outside the contract: refused, over the secured link
    SendWorker([queue], connection=redis, serializer=JSONSerializer).work(burst=True)
    job.refresh()
    assert job.get_status() == JobStatus.FAILED


@pytest.mark.parametrize(
    ("kind", "error"),
    [("wrong", AuthenticationError), ("anonymous", Exception), ("tls_untrusted", ConnectionError)],
)
def test_refused_without_the_right_credentials_or_ca(
    secured_redis: dict[str, str],
    kind: str,
    error: type[Exception],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(error):
        _connect(secured_redis[kind], monkeypatch).ping()
