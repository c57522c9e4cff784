"""``mikomi up``: start every part as a child process, watch them, stop them all on Ctrl-C.

Each child runs in its own session (process group) so that the whole group — a worker and its
browser, uvicorn and its workers — can be stopped together, and each asks the kernel to signal
it if this supervisor dies, so that nothing outlives ``mikomi up``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from shared.config import get_settings

console = Console(stderr=True)
PR_SET_PDEATHSIG = 1
DEMO_FIXTURE_PORT = 8100
MAILIN_PORT = 2525  # `mikomi mailin`'s default; another free port when it is taken


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    proc: subprocess.Popen[bytes] | None = None
    essential: bool = True

    def start(self, env: dict[str, str], log_dir: Path) -> None:
        log = open(log_dir / f"{self.name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            list(self.argv),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        console.print(
            f"  started [bold]{self.name}[/] (pid {self.proc.pid}, log var/log/{self.name}.log)"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


@dataclass
class Supervisor:
    env: dict[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, child: Child) -> Child:
        child.start(self.env, self.log_dir)
        self.children.append(child)
        return child

    def stop_all(self, grace_s: float = 15.0) -> None:
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in reversed(self.children):
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                console.print(f"  {child.name} did not stop in time: killing it")
            # Whatever is left of the group (browsers, uvicorn workers) goes too.
            child.signal_group(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.proc.wait(timeout=5)


def _mikomi(*args: str) -> list[str]:
    return [sys.executable, "-m", "mikomi.cli", *args]


def _wait_until(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except Exception:  # not up yet
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


def run_up(*, port: int, workers: int, demo: bool, demo_prospects: int) -> int:
    settings = get_settings()
    var = settings.var_dir
    log_dir = var / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["MIKOMI_DATABASE_URL"] = settings.effective_database_url
    env["PYTHONUNBUFFERED"] = "1"
    if demo:
        # The demo prospects are fixture sites on *.localhost: workers may reach loopback, and
        # every page says デモ.
        env["MIKOMI_DEMO"] = "1"
        env["MIKOMI_ALLOW_PRIVATE"] = "1"
        # Card orders settle at once through the test gateway (every page says テスト決済), and
        # the demo's invoices have an issuer (docs/operations.md#payments).
        env.setdefault("MIKOMI_PAYMENTS", "test")
        env.setdefault("MIKOMI_INVOICE_ISSUER", "Mikomi デモ株式会社")
        env.setdefault("MIKOMI_INVOICE_REGISTRATION_NO", "T0000000000000")
        env.setdefault("MIKOMI_BANK_ACCOUNT", "デモ銀行 本店 普通 0000000 ミコミデモ（カ")
    env.setdefault("MIKOMI_PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")

    if not port_is_free(port):
        console.print(
            f"[red]port {port} is already in use[/] — is another `mikomi up` running? "
            "(choose another with --port)"
        )
        return 1

    supervisor = Supervisor(env=env, log_dir=log_dir)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    started = time.monotonic()
    try:
        console.print("[bold]Mikomi[/] starting")
        from shared import migrate

        migrate.upgrade(settings.effective_database_url)
        console.print(f"  database ready: {settings.effective_database_url}")

        if not settings.redis_url:
            redis_port = free_port()
            redis_dir = var / "redis"
            redis_dir.mkdir(parents=True, exist_ok=True)
            supervisor.start(
                Child(
                    "redis",
                    [
                        "redis-server",
                        "--port",
                        str(redis_port),
                        "--bind",
                        "127.0.0.1",
                        "--dir",
                        str(redis_dir),
                        "--save",
                        "60 1000",
                        "--appendonly",
                        "no",
                        "--daemonize",
                        "no",
                        "--protected-mode",
                        "yes",
                    ],
                )
            )
            env["MIKOMI_REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            from redis import Redis

            _wait_until(lambda: Redis.from_url(env["MIKOMI_REDIS_URL"]).ping(), 15, "redis-server")
            console.print(f"  redis ready: {env['MIKOMI_REDIS_URL']}")
        os.environ["MIKOMI_REDIS_URL"] = env.get("MIKOMI_REDIS_URL", settings.effective_redis_url)

        credentials: list[str] = []
        # 反響 (docs/operations.md#mailin): with a reply domain, mailin takes the mail of the
        # items' reply addresses; the demo's fixture sites send their auto-replies to it.
        mailin_port: int | None = None
        if settings.reply_domain:
            mailin_port = MAILIN_PORT if port_is_free(MAILIN_PORT) else free_port()
            supervisor.start(Child("mailin", _mikomi("mailin", "--port", str(mailin_port))))
        if demo:
            fixture_port = DEMO_FIXTURE_PORT if port_is_free(DEMO_FIXTURE_PORT) else free_port()
            csv_path = var / "demo" / "prospects.csv"
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            supervisor.start(
                Child(
                    "fixtures",
                    _mikomi(
                        "fixtures",
                        "serve",
                        "--port",
                        str(fixture_port),
                        "--generated",
                        str(demo_prospects),
                        "--export-prospects",
                        str(csv_path),
                        "--log",
                        str(var / "demo" / "submissions.jsonl"),
                        *(["--smtp", f"127.0.0.1:{mailin_port}"] if mailin_port else []),
                    ),
                )
            )
            _wait_until(
                lambda: (
                    httpx.get(
                        f"http://127.0.0.1:{fixture_port}/__fixtures/sites", timeout=2
                    ).status_code
                    == 200
                ),
                30,
                "demo fixture sites",
            )
            _wait_until(
                lambda: csv_path.exists() and csv_path.stat().st_size > 0, 30, "demo prospect CSV"
            )
            from mikomi.demo import seed_demo

            credentials = seed_demo(csv_path, console=console)

        supervisor.start(Child("coordinator", _mikomi("coordinator", "--port", str(port))))
        supervisor.start(Child("dispatcher", _mikomi("dispatcher")))
        supervisor.start(Child("sweeper", _mikomi("sweeper")))
        supervisor.start(Child("worker", _mikomi("worker", "--processes", str(workers))))
        supervisor.start(Child("import-worker", _mikomi("import-worker")))
        _wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200,
            60,
            "the coordinator",
        )
        console.print(
            f"\n[bold green]Mikomi is up[/] in {time.monotonic() - started:.1f} s: "
            f"http://127.0.0.1:{port}/  (health: /healthz, API: /docs)"
        )
        for line in credentials:
            console.print(f"  {line}")
        console.print("Press Ctrl-C to stop everything.\n")

        while not stopping:
            for child in supervisor.children:
                if not child.alive() and child.essential:
                    console.print(
                        f"[red]{child.name} exited (code {child.proc.returncode if child.proc else '?'})"
                        f"[/] — see var/log/{child.name}.log; stopping"
                    )
                    stopping = True
                    break
            time.sleep(0.5)
        return 0
    except Exception as exc:
        console.print(f"[red]start failed:[/] {exc}")
        return 1
    finally:
        console.print("stopping…")
        supervisor.stop_all()
        console.print("stopped; no process left behind")
