"""The 反響 tests' fixtures: a real ``mikomi mailin`` server (aiosmtpd, in a thread) over a
committed database of its own on each engine (defined in tests/support/mailin.py, shared with
the browser test in tests/e2e/responses/)."""

from tests.support.mailin import mail_db, mailin

__all__ = ["mail_db", "mailin"]
