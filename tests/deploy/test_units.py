"""The systemd units and the compose file describe the same installation: the same commands,
stop timeouts that outlast the worker's drain, SIGTERM before SIGKILL. (Neither can be run on
these test machines: no systemd as PID 1, no container runtime;
docs/operations.md#several-machines says so.)"""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path

import yaml

from shared.config import Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = DEPLOY / "systemd"
# How long `mikomi worker` may take to stop: each process finishes its send, then 30 s more
# (worker/main.py run()).
WORKER_DRAIN_S = Settings().send_timeout_s + 30


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


def _seconds(text: str) -> float:
    match = re.fullmatch(r"(\d+)(s|min)?", text.strip())
    assert match, text
    return float(match.group(1)) * (60 if match.group(2) == "min" else 1)


def _mikomi_args(exec_start: str) -> list[str]:
    words = shlex.split(exec_start)
    if words[0] == "/bin/sh":  # sh -c 'exec … mikomi worker --processes "${…:-2}"'
        words = shlex.split(words[-1])[1:]
    assert words[0].endswith("/mikomi"), exec_start
    return [re.sub(r"\$\{[A-Z_]+:-(\w+)\}", r"\1", w) for w in words[1:]]


def _compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_every_long_running_part_has_a_unit_and_a_compose_service() -> None:
    services = _compose()["services"]
    for part, unit in [
        ("coordinator", "mikomi-coordinator.service"),
        ("dispatcher", "mikomi-dispatcher.service"),
        ("sweeper", "mikomi-sweeper.service"),
        ("worker", "mikomi-worker@.service"),
        ("import-worker", "mikomi-import-worker.service"),
        ("mailin", "mikomi-mailin.service"),
        ("migrate", "mikomi-migrate.service"),
    ]:
        args = _mikomi_args(_unit(unit)["Service"]["ExecStart"])
        command = services[part]["command"]
        assert command[0] == "mikomi"
        # The same part with the same options (the coordinator listens on all addresses in
        # a container, on loopback behind the host's proxy under systemd).
        assert command[1] == args[0], part
        assert [a for a in command[1:] if a.startswith("--")] == [
            a for a in args if a.startswith("--")
        ], part


def test_stopping_drains_before_anything_is_killed() -> None:
    services = _compose()["services"]
    for unit, part in [
        ("mikomi-worker@.service", "worker"),
        ("mikomi-coordinator.service", "coordinator"),
        ("mikomi-dispatcher.service", "dispatcher"),
        ("mikomi-sweeper.service", "sweeper"),
        ("mikomi-import-worker.service", "import-worker"),
        ("mikomi-mailin.service", "mailin"),
    ]:
        service = _unit(unit)["Service"]
        # SIGTERM to the main process only; the rest is killed only after the timeout.
        assert service["KillMode"] == "mixed", unit
        timeout = _seconds(service["TimeoutStopSec"])
        assert _seconds(services[part]["stop_grace_period"]) == timeout, part
    worker_timeout = _seconds(_unit("mikomi-worker@.service")["Service"]["TimeoutStopSec"])
    assert worker_timeout > WORKER_DRAIN_S


def test_services_wait_for_the_migrations() -> None:
    assert _unit("mikomi-migrate.service")["Service"]["Type"] == "oneshot"
    for unit in (
        "mikomi-coordinator.service",
        "mikomi-dispatcher.service",
        "mikomi-sweeper.service",
        "mikomi-mailin.service",
    ):
        assert "mikomi-migrate.service" in _unit(unit)["Unit"]["After"]
    services = _compose()["services"]
    for part in ("coordinator", "dispatcher", "sweeper", "worker", "import-worker", "mailin"):
        condition = services[part]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully"


def test_the_image_does_not_run_as_root() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^USER mikomi$", dockerfile, re.MULTILINE)
    for unit in UNITS.glob("*.service"):
        assert _unit(unit.name)["Service"]["User"] == "mikomi", unit.name
