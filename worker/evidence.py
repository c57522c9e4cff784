"""What a finished send keeps as proof (docs/rules.md#evidence): field map, screenshots, pages,
timings, worker."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def default_worker_id() -> str:
    return os.environ.get("MIKOMI_WORKER_ID") or f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Evidence:
    """Collected during one send; ``as_dict`` goes into ``SendResult.evidence``."""

    worker_id: str
    directory: Path | None = None
    timings_ms: dict[str, int] = field(default_factory=dict)
    pages: list[str] = field(default_factory=list)
    screenshots: dict[str, str] = field(default_factory=dict)
    field_map: list[dict[str, str]] = field(default_factory=list)
    dialogs: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    page_states: list[dict[str, Any]] = field(default_factory=list)
    # The send ended on the first look, without a browser (worker/first_look.py).
    first_look: bool = False

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            spent = int((time.perf_counter() - start) * 1000)
            self.timings_ms[step] = self.timings_ms.get(step, 0) + spent

    def visit(self, url: str) -> None:
        if not self.pages or self.pages[-1] != url:
            self.pages.append(url)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def screenshot_path(self, name: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / f"{name}.jpg"

    def add_screenshot(self, name: str, path: Path | None) -> None:
        if path is not None:
            self.screenshots[name] = str(path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "field_map": self.field_map,
            "screenshots": self.screenshots,
            "pages": self.pages,
            "timings_ms": self.timings_ms,
            "dialogs": self.dialogs,
            "page_states": self.page_states,
            "notes": self.notes,
            "first_look": self.first_look,
        }

    def write(self, outcome: dict[str, Any]) -> None:
        """``evidence.json`` beside the screenshots, when the send has an evidence folder."""
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        document = {"outcome": outcome, **self.as_dict()}
        (self.directory / "evidence.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8"
        )
