"""The naive way to send, kept only as the benchmark's baseline (``bench/send_throughput.py``).

What a first script usually does: launch Debian's full ``chromium`` for every send, wait for the
``load`` event (images, fonts and styles included), then drive the page one Playwright action at
a time (``page.fill``, ``select_option``, ``check``, ``click``, ``wait_for_load_state``), each
with its actionability checks. It makes the same decisions as the real engine (``formfill``) and
takes the same two screenshots, so the benchmark compares the driving, not the deciding.
Never used by the worker.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Frame, Page, Playwright, sync_playwright

import formfill
from formfill import FormChoice, PageSnapshot
from worker.driver import snapshot_frames

FULL_CHROMIUM = "/usr/bin/chromium"
LOAD_TIMEOUT_MS = 15_000


class NaiveSender:
    """One full browser launch per send; one Playwright action per field."""

    def __init__(self, executable_path: str = FULL_CHROMIUM) -> None:
        self.executable_path = executable_path
        self._playwright: Playwright | None = None

    def __enter__(self) -> NaiveSender:
        self._playwright = sync_playwright().start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None

    def send(
        self,
        url: str,
        script: Mapping[str, Any],
        company: str,
        optout_url: str,
        evidence_dir: Path | None = None,
    ) -> str:
        assert self._playwright is not None
        browser = self._playwright.chromium.launch(
            executable_path=self.executable_path, headless=True, args=["--no-sandbox"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(LOAD_TIMEOUT_MS)
            return self._send(page, url, script, company, optout_url, evidence_dir)
        except PlaywrightError:
            return "error"
        finally:
            browser.close()

    def _send(
        self,
        page: Page,
        url: str,
        script: Mapping[str, Any],
        company: str,
        optout_url: str,
        evidence_dir: Path | None,
    ) -> str:
        page.goto(url)
        choice, _ = self._look(page)
        if choice is None:
            snapshot = _snapshot(page)
            for link in formfill.discover_contact_links(snapshot)[:3]:
                page.goto(link.url)
                choice, snapshot = self._look(page)
                if choice is not None:
                    break
                for deeper in formfill.discover_contact_links(snapshot)[:2]:
                    page.goto(deeper.url)
                    choice, _ = self._look(page)
                    if choice is not None:
                        break
                if choice is not None:
                    break
        if choice is None:
            return "no_form"
        message = formfill.render_message(script, company, optout_url)
        plan = formfill.build_fill_plan(choice.form, script, message)
        frame = _frame(page, choice.frame_index)
        for action in plan.actions:
            if action.op == "fill":
                frame.fill(action.selector, action.value)
            elif action.op == "select":
                frame.select_option(action.selector, action.value)
            elif action.op in ("check", "uncheck"):
                # Custom-styled boxes hide their input behind the label: Playwright refuses
                # to act on invisible elements unless forced.
                try:
                    frame.set_checked(action.selector, action.op == "check", timeout=2_000)
                except PlaywrightError:
                    frame.set_checked(action.selector, action.op == "check", force=True)
            else:
                frame.click(action.selector)
        if evidence_dir is not None:
            page.screenshot(path=str(evidence_dir / "naive-filled.jpg"), type="jpeg")
        if plan.submit_selector is None:
            return "no_submit"
        frame.click(plan.submit_selector)
        for _step in range(4):
            with contextlib.suppress(PlaywrightError):
                page.wait_for_load_state("load")
                page.wait_for_load_state("networkidle", timeout=5_000)
            state = formfill.classify_page(_snapshot(page))
            if state.kind == "confirm" and state.submit_selector:
                _click_anywhere(page, state.submit_selector)
                continue
            if evidence_dir is not None:
                page.screenshot(path=str(evidence_dir / "naive-result.jpg"), type="jpeg")
            return "sent" if state.kind == "success" else state.kind
        return "unknown"

    def _look(self, page: Page) -> tuple[FormChoice | None, PageSnapshot]:
        with contextlib.suppress(PlaywrightError):
            page.wait_for_load_state("load")
        snapshot = _snapshot(page)
        return formfill.find_inquiry_form(snapshot), snapshot


def _snapshot(page: Page) -> PageSnapshot:
    return snapshot_frames(page, page.frames, 10_000_000)


def _frame(page: Page, index: int | None) -> Frame:
    return page.frames[index] if index else page.main_frame


def _click_anywhere(page: Page, selector: str) -> None:
    for frame in page.frames:
        if frame.query_selector(selector) is not None:
            frame.click(selector)
            return
