"""One send, start to finish, on top of the driver and :mod:`formfill`: the flow of
docs/architecture.md#one-send-from-reservation-to-ledger.

:class:`Sender` is kept for the life of a worker process (it owns the long-lived browser) and
runs one send at a time. The flow:

address check → top page → (refusal / captcha check on every page) → the form, on the top page
or behind up to two levels of contact links → fill → screenshot → ``before_submit()`` (the point
of no return: the fleet commits ``submitting`` in it, or says no) → submit → read the page:
confirm → press 送信する; success → sent; validation error → one corrective retry; nothing
readable → in_doubt.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeout

import formfill
from formfill import FillVariant, FormChoice, PageSnapshot, PageState
from shared.config import Settings, get_settings
from shared.enums import DoubtReason, FailReason, SendStatus, SkipReason
from worker import green
from worker.driver import Driver, NavResult, Tab
from worker.evidence import Evidence, default_worker_id
from worker.first_look import FirstLook
from worker.netguard import NetGuard
from worker.page_limits import BrowserWatchdog, ContextWatchdog

# Discovery: how many contact-link candidates to try per level, and how long to wait for a
# form that scripts render after the document loaded.
LINKS_PER_LEVEL = 3
MAX_LEVELS = 2
RENDER_WAIT_S = 3.0
# After a submit click: how long a page may take to react and settle, and how many confirm
# steps a flow may have.
SETTLE_S = 10.0
MAX_CONFIRM_STEPS = 3
# JS wizards: how many 次へ steps a form may have, and how long a step may take to show.
MAX_WIZARD_STEPS = 4
WIZARD_STEP_S = 3.0
# After the postal code is typed: how long field values must stay unchanged (an address lookup
# has finished) before the rest is typed, and the most that is waited for it.
POSTAL_QUIET_S = 0.6
POSTAL_SETTLE_S = 3.0
# Fields an address lookup rewrites: checked again right before the submit.
_ADDRESS_ROLES = frozenset({"postal_code", "postal_code_part", "prefecture", "city", "address",
                            "address_full", "building"})  # fmt: skip

CANCELLED = "cancelled"  # before_submit said no: nothing was submitted


@dataclass
class SendResult:
    """The outcome of one send (docs/rules.md#outcomes) and its evidence."""

    status: str
    reason: str | None = None
    contact_url: str | None = None
    final_url: str | None = None
    fields: list[dict[str, str]] = field(default_factory=list)
    elapsed_ms: int = 0
    evidence: dict[str, Any] = field(default_factory=dict)
    submitted: bool = False

    def summary(self) -> dict[str, Any]:
        """The JSON object of ``mikomi send --json`` (docs/operations.md#command-line), exactly
        these keys."""
        return {
            "status": self.status,
            "reason": self.reason,
            "contact_url": self.contact_url,
            "fields": self.fields,
            "elapsed_ms": self.elapsed_ms,
        }


class _Done(Exception):
    """Ends the flow with an outcome."""

    def __init__(self, status: str, reason: str | None) -> None:
        super().__init__(f"{status}/{reason}")
        self.status = status
        self.reason = reason


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining_s(self) -> float:
        return self.end - time.monotonic()

    def ms(self, cap_ms: int) -> int:
        return max(1, min(cap_ms, int(self.remaining_s() * 1000)))

    def check(self, submitted: bool) -> None:
        if self.remaining_s() <= 0:
            raise _timeout(submitted)


def _timeout(submitted: bool) -> _Done:
    if submitted:
        return _Done(SendStatus.IN_DOUBT, DoubtReason.UNCONFIRMED)
    return _Done(SendStatus.FAILED, FailReason.TIMEOUT)


_NAV_OUTCOMES = {
    "timeout": (SendStatus.FAILED, FailReason.TIMEOUT),
    "unreachable": (SendStatus.FAILED, FailReason.SITE_UNREACHABLE),
    "aborted": (SendStatus.FAILED, FailReason.SITE_UNREACHABLE),
    "http_error": (SendStatus.FAILED, FailReason.HTTP_ERROR),
    "blocked": (SendStatus.SKIPPED, SkipReason.BLOCKED_ADDRESS),
}


class Sender:
    """Runs sends on one long-lived browser. One per worker process (or thread); reusable."""

    def __init__(
        self,
        settings: Settings | None = None,
        guard: NetGuard | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.guard = guard or NetGuard.from_settings(self.settings)
        self.worker_id = worker_id or default_worker_id()
        self.driver = Driver(self.settings, self.guard)
        # Before the browser: the static HTML may settle the send (worker/first_look.py).
        self.first_look = (
            FirstLook(self.settings, self.guard, lambda: self.driver.browser_version)
            if self.settings.first_look
            else None
        )

    def playwright_loop(self) -> tuple[Any, Any]:
        """Playwright's loop and dispatcher greenlet (a browser host, worker/green.py)."""
        return self.driver.playwright_loop()

    def __enter__(self) -> Sender:
        self.driver.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.driver.close()
        if self.first_look is not None:
            self.first_look.close()

    def send(
        self,
        url: str,
        script: Mapping[str, Any],
        company: str,
        optout_url: str,
        *,
        dry_run: bool = False,
        evidence_dir: Path | None = None,
        before_submit: Callable[[], bool] | None = None,
        deadline_s: float | None = None,
    ) -> SendResult:
        started = time.monotonic()
        run = _Send(
            self,
            url,
            script,
            company,
            optout_url,
            dry_run=dry_run,
            evidence=Evidence(self.worker_id, evidence_dir),
            before_submit=before_submit,
            deadline=_Deadline(deadline_s or self.settings.send_timeout_s),
        )
        # On a browser host the browser is other sends' too: only this send's context goes.
        watchdog = (
            ContextWatchdog(run.deadline.remaining_s(), lambda: run.tab)
            if green.active()
            else BrowserWatchdog(run.deadline.remaining_s(), lambda: self.driver.browser_pid)
        )
        with watchdog:
            status, reason = run.execute()
        if watchdog.fired and status != SendStatus.SENT:
            # The page held the browser past the deadline; the watchdog killed the browser.
            timed_out = _timeout(run.submitted)
            status, reason = timed_out.status, timed_out.reason
        result = SendResult(
            status=str(status),
            reason=None if reason is None else str(reason),
            contact_url=run.contact_url,
            final_url=run.final_url,
            fields=run.evidence.field_map,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            evidence=run.evidence.as_dict(),
            submitted=run.submitted,
        )
        run.evidence.write({k: v for k, v in asdict(result).items() if k != "evidence"})
        return result


class _Send:
    """The state of one send; ``execute`` returns (status, reason)."""

    def __init__(
        self,
        sender: Sender,
        url: str,
        script: Mapping[str, Any],
        company: str,
        optout_url: str,
        *,
        dry_run: bool,
        evidence: Evidence,
        before_submit: Callable[[], bool] | None,
        deadline: _Deadline,
    ) -> None:
        self.sender = sender
        self.url = url
        self.script = script
        self.company = company
        self.optout_url = optout_url
        self.dry_run = dry_run
        self.evidence = evidence
        self.before_submit = before_submit
        self.deadline = deadline
        self.page_timeout_ms = sender.settings.page_timeout_ms
        self.contact_url: str | None = None
        self.final_url: str | None = None
        self.submitted = False
        self.tab: Tab | None = None
        self._alerts_seen = 0
        # The address actions of a form with a postal-code lookup, checked again before submit.
        self._address: tuple[int | None, list[formfill.FillAction]] | None = None

    def execute(self) -> tuple[str, str | None]:
        try:
            with self.evidence.timed("check_address"):
                self._check_address()
            if self.sender.first_look is not None:
                with self.evidence.timed("first_look"):
                    self._first_look(self.sender.first_look)
            with self.sender.driver.open_tab(self.page_timeout_ms) as tab:
                self.tab = tab
                try:
                    return self._flow(tab)
                finally:
                    with contextlib.suppress(PlaywrightError):
                        self.final_url = tab.url
                    self.evidence.dialogs = [vars(d) for d in tab.dialogs]
        except _Done as done:
            return done.status, done.reason
        except PlaywrightTimeout:
            timed_out = _timeout(self.submitted)
            return timed_out.status, timed_out.reason
        except PlaywrightError as exc:
            # The page or browser broke under us (crash, closed target).
            self.evidence.note(f"browser error: {str(exc).splitlines()[0] if str(exc) else exc}")
            if self.submitted:
                return SendStatus.IN_DOUBT, DoubtReason.UNCONFIRMED
            return SendStatus.FAILED, FailReason.SITE_UNREACHABLE

    # --- steps -----------------------------------------------------------------------------

    def _check_address(self) -> None:
        if self.sender.settings.allow_private:
            return
        verdict = self.sender.guard.check_url(self.url)
        if verdict.allowed:
            return
        self.evidence.note(f"address check: {verdict.reason} {list(verdict.addresses)}")
        if verdict.reason == "blocked_address":
            raise _Done(SendStatus.SKIPPED, SkipReason.BLOCKED_ADDRESS)
        raise _Done(SendStatus.FAILED, FailReason.SITE_UNREACHABLE)

    def _first_look(self, first_look: FirstLook) -> None:
        """End the send without a browser when the static HTML settles it."""
        look = first_look.look(self.url, self.deadline.remaining_s())
        for note in look.notes:
            self.evidence.note(note)
        if look.status is not None:
            for url in look.pages:
                self.evidence.visit(url)
            self.evidence.first_look = True
            self.final_url = look.final_url
            raise _Done(look.status, look.reason)

    def _flow(self, tab: Tab) -> tuple[str, str | None]:
        with self.evidence.timed("load"):
            self._navigate(tab, self.url, fatal=True)
        with self.evidence.timed("discover"):
            choice, snapshot = self._find_form(tab)
        self.contact_url = tab.url
        message = formfill.render_message(self.script, self.company, self.optout_url)
        variant = FillVariant()
        with self.evidence.timed("fill"):
            choice, submit_selector = self._fill(tab, choice, message, variant)
            invalid = tab.invalid_fields(choice.frame_index, choice.form.selector)
            # What the fields hold right before the submit: a late address lookup is undone.
            self._retype_drifted(tab)
        self._screenshot(tab, "filled", choice)
        if invalid:
            # The browser itself would refuse to send (a required field we could not fill):
            # nothing can be delivered, so this is not a point of no return.
            self.evidence.note(f"browser validation: {invalid}")
            raise _Done(SendStatus.FAILED, FailReason.VALIDATION_ERROR)
        if self.dry_run:
            return "dry_run", None
        self.deadline.check(self.submitted)
        if self.before_submit is not None and not self.before_submit():
            self.evidence.note("before_submit said no: not submitted")
            return CANCELLED, None
        tab.accept_confirms = True
        self.submitted = True
        with self.evidence.timed("submit"):
            outcome = self._submit_and_read(tab, choice, submit_selector, message, variant)
        self._screenshot(tab, "result", None)
        return outcome

    def _navigate(self, tab: Tab, url: str, *, fatal: bool) -> NavResult:
        self.deadline.check(self.submitted)
        nav = tab.goto(url, timeout_ms=self.deadline.ms(self.page_timeout_ms))
        self.evidence.visit(tab.url if nav.ok else url)
        if not nav.ok:
            self.evidence.note(f"navigation to {url}: {nav.error} {nav.status or ''} {nav.detail}")
            if nav.error == "timeout" and self.deadline.remaining_s() <= 0:
                raise _timeout(self.submitted)
            if fatal or nav.error == "blocked":
                status, reason = _NAV_OUTCOMES[nav.error or "unreachable"]
                raise _Done(status, reason)
        return nav

    def _guardrails(self, snapshot: PageSnapshot, text: str) -> None:
        """Walk away from refusal notices and CAPTCHAs, on every page (``text``: what the
        page shows, every frame's)."""
        documents = [snapshot.html, *(f.html for f in snapshot.frames)]
        for html in documents:
            kind = formfill.detect_captcha(html)
            if kind:
                self.evidence.note(f"captcha ({kind}) on {snapshot.url}")
                raise _Done(SendStatus.SKIPPED, SkipReason.CAPTCHA)
        refusal = formfill.detect_refusal(text)
        if refusal:
            self.evidence.note(f"refusal on {snapshot.url}: {refusal}")
            raise _Done(SendStatus.SKIPPED, SkipReason.REFUSED_SALES)

    def _look(self, tab: Tab, *, wait_render: bool) -> tuple[FormChoice | None, PageSnapshot]:
        baseline = tab.controls_count() if wait_render else 0
        snapshot, text = tab.look()
        self._guardrails(snapshot, text)
        choice = formfill.find_inquiry_form(snapshot)
        if choice is None and wait_render:
            waited = min(RENDER_WAIT_S, max(0.0, self.deadline.remaining_s()))
            if tab.wait_for_more_controls(baseline, waited):
                snapshot, text = tab.look()
                self._guardrails(snapshot, text)
                choice = formfill.find_inquiry_form(snapshot)
        self._refuse_captcha(choice, snapshot.url)
        return choice, snapshot

    def _refuse_captcha(self, choice: FormChoice | None, url: str) -> None:
        """A form that asks a question to tell people from bots (a sum, a word from a picture)
        is never sent, its answer box empty or not (docs/rules.md#guardrails)."""
        if choice is not None and choice.form.has_captcha:
            self.evidence.note(f"the form on {url} puts a question to tell people from bots")
            raise _Done(SendStatus.SKIPPED, SkipReason.CAPTCHA)

    def _find_form(self, tab: Tab) -> tuple[FormChoice, PageSnapshot]:
        visited = {_key(self.url), _key(tab.url)}
        links = []
        choice, snapshot = self._look(tab, wait_render=False)
        if choice is not None:
            return choice, snapshot
        links = formfill.discover_contact_links(snapshot)
        if not links:
            # Maybe a page whose form (or links) scripts render later.
            choice, snapshot = self._look(tab, wait_render=True)
            if choice is not None:
                return choice, snapshot
            links = formfill.discover_contact_links(snapshot)
            if not links:
                raise _Done(SendStatus.FAILED, FailReason.NO_CONTACT_PAGE)
        last_error: NavResult | None = None
        level = [link.url for link in links]
        for _depth in range(MAX_LEVELS):
            next_level: list[str] = []
            tried = 0
            for link_url in level:
                if tried >= LINKS_PER_LEVEL:
                    break
                if _key(link_url) in visited:
                    continue
                visited.add(_key(link_url))
                tried += 1
                nav = self._navigate(tab, link_url, fatal=False)
                if not nav.ok:
                    last_error = nav
                    continue
                visited.add(_key(tab.url))
                choice, snapshot = self._look(tab, wait_render=True)
                if choice is not None:
                    return choice, snapshot
                next_level.extend(c.url for c in formfill.discover_contact_links(snapshot))
            level = next_level
        # A candidate link that answers 404 (or is slow) says nothing about the site, which
        # answered its top page: the outcome is that no form was found.
        del last_error
        raise _Done(SendStatus.FAILED, FailReason.NO_FORM)

    def _fill(
        self,
        tab: Tab,
        choice: FormChoice,
        message: formfill.RenderedMessage,
        variant: FillVariant,
    ) -> tuple[FormChoice, str | None]:
        """Fill the form (every step of a JS wizard); the form as it stands now and its submit."""
        field_map: dict[str, dict[str, str]] = {}
        for _step in range(MAX_WIZARD_STEPS):
            plan = formfill.build_fill_plan(choice.form, self.script, message, variant)
            self._apply(tab, choice.frame_index, plan)
            for fv in plan.field_map:
                field_map[fv.name] = {"name": fv.name, "role": fv.role, "value": fv.value}
            if plan.next_selector is None:
                break
            # A JS wizard: 次へ shows the next step and sends nothing; plan it again.
            before = tab.signature(choice.frame_index)
            if tab.click(choice.frame_index, plan.next_selector) != "clicked":
                break
            tab.settle(choice.frame_index, before, WIZARD_STEP_S)
            step = tab.snapshot()
            again = formfill.find_inquiry_form(step)
            if again is None or again.frame_index != choice.frame_index:
                break
            self._refuse_captcha(again, step.url)  # a question on a later step
            self.evidence.note("wizard: next step")
            choice = again
        if plan.next_selector is not None:
            # The wizard did not show its next step (its own check refused a value, or too
            # many steps): posting the form past it would send what the site never asked for.
            self.evidence.note("wizard: the next step did not open")
            raise _Done(SendStatus.FAILED, FailReason.VALIDATION_ERROR)
        if not any(fv["role"] == "message" for fv in field_map.values()):
            # Submitting without the script's message would deliver nothing the member paid
            # for (and spend the prospect's one contact): treat the form as not an inquiry form.
            self.evidence.note("the chosen form has no field for the message")
            raise _Done(SendStatus.FAILED, FailReason.NO_FORM)
        self.evidence.field_map = list(field_map.values())
        return choice, plan.submit_selector or choice.form.submit_selector

    def _retype_drifted(self, tab: Tab) -> list[dict[str, Any]]:
        """Type again the address fields a lookup script rewrote after they were filled."""
        if self._address is None:
            return []
        frame_index, actions = self._address
        drifted = set(tab.drifted(frame_index, actions))
        if not drifted:
            return []
        self.evidence.note(f"address fields rewritten by the page, typed again: {sorted(drifted)}")
        return tab.fill(frame_index, [a for a in actions if a.selector in drifted])

    def _apply(self, tab: Tab, frame_index: int | None, plan: formfill.FillPlan) -> None:
        """Run a plan's actions; with an address lookup, the postal code first, then the rest
        once the lookup has rewritten what it rewrites, then again whatever it changed late."""
        if plan.settle_after:
            results = tab.fill(frame_index, plan.actions[: plan.settle_after])
            tab.settle_values(frame_index, POSTAL_QUIET_S, POSTAL_SETTLE_S)
            results += tab.fill(frame_index, plan.actions[plan.settle_after :])
            self._address = (frame_index, [a for a in plan.actions if a.role in _ADDRESS_ROLES])
            results += self._retype_drifted(tab)
        else:
            results = tab.fill(frame_index, plan.actions)
        failed = [r for r in results if not r.get("ok")]
        if failed:
            self.evidence.note(f"fill problems: {failed}")

    def _click_submit(
        self, tab: Tab, frame_index: int | None, selector: str | None, form_selector: str | None
    ) -> None:
        outcome = "missing"
        if selector:
            outcome = tab.click(frame_index, selector)
        if outcome == "missing" and form_selector:
            outcome = tab.request_submit(frame_index, form_selector)
        self.evidence.note(f"submit click: {outcome}")
        if outcome != "clicked":
            # Nothing was clicked, so nothing was delivered.
            self.submitted = False
            raise _Done(SendStatus.FAILED, FailReason.VALIDATION_ERROR)

    def _submit_and_read(
        self,
        tab: Tab,
        choice: FormChoice,
        submit_selector: str | None,
        message: formfill.RenderedMessage,
        variant: FillVariant,
    ) -> tuple[str, str | None]:
        frame_index = choice.frame_index
        form_selector: str | None = choice.form.selector
        retried = False
        confirms = 0
        self._click_and_settle(tab, frame_index, submit_selector, form_selector)
        while True:
            self.deadline.check(self.submitted)
            snapshot = tab.snapshot()
            state = formfill.classify_page(snapshot, form_selector_before=form_selector)
            self._record_state(snapshot, state)
            kind = state.kind
            if kind == "form" and self._alerted(tab):
                kind = "validation_error"
            if kind == "success":
                return SendStatus.SENT, None
            if kind == "refused":
                return SendStatus.SKIPPED, SkipReason.REFUSED_SALES
            if kind == "captcha":
                return SendStatus.SKIPPED, SkipReason.CAPTCHA
            if kind == "error":
                return SendStatus.FAILED, FailReason.HTTP_ERROR
            if kind == "confirm" and state.submit_selector and confirms < MAX_CONFIRM_STEPS:
                confirms += 1
                frame_index = tab.frame_of(state.submit_selector)
                form_selector = None
                self._click_and_settle(tab, frame_index, state.submit_selector, None)
                continue
            if kind == "validation_error":
                corrected = formfill.corrective_variant(state, variant)
                again = formfill.find_inquiry_form(snapshot) if corrected else None
                if retried or corrected is None or again is None:
                    return SendStatus.FAILED, FailReason.VALIDATION_ERROR
                retried = True
                variant = corrected
                self.evidence.note(f"corrective retry with {corrected}")
                again, selector = self._fill(tab, again, message, variant)
                frame_index = again.frame_index
                form_selector = again.form.selector
                self._click_and_settle(tab, frame_index, selector, form_selector)
                continue
            return SendStatus.IN_DOUBT, DoubtReason.UNCONFIRMED

    def _click_and_settle(
        self, tab: Tab, frame_index: int | None, selector: str | None, form_selector: str | None
    ) -> None:
        self._alerts_seen = len(tab.dialogs)
        before = tab.signature(frame_index)
        self._click_submit(tab, frame_index, selector, form_selector)
        settled = tab.settle(
            frame_index, before, min(SETTLE_S, max(0.5, self.deadline.remaining_s()))
        )
        self.evidence.note(f"after click: {settled.kind} {settled.status or ''}".strip())
        if settled.status is not None and settled.status >= 400:
            raise _Done(SendStatus.FAILED, FailReason.HTTP_ERROR)

    def _alerted(self, tab: Tab) -> bool:
        """An alert() after the click, with the form still there: the site's own validation."""
        return any(d.type == "alert" for d in tab.dialogs[self._alerts_seen :])

    def _record_state(self, snapshot: PageSnapshot, state: PageState) -> None:
        self.evidence.visit(snapshot.url)
        self.evidence.page_states.append(
            {"url": snapshot.url, "kind": state.kind, "messages": list(state.messages)[:5]}
        )

    def _screenshot(self, tab: Tab, name: str, choice: FormChoice | None) -> None:
        path = self.evidence.screenshot_path(name)
        if path is None:
            return
        with self.evidence.timed(f"screenshot_{name}"):
            if choice is not None:
                tab.scroll_into_view(choice.frame_index, choice.form.selector)
            self.evidence.add_screenshot(name, tab.screenshot(path))


def _key(url: str) -> str:
    return urldefrag(url)[0].rstrip("/")
