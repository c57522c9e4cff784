"""The mailin fixtures (tests/support/mailin.py) for the browser test of the 反響 section."""

from tests.support.mailin import mail_db, mailin

__all__ = ["mail_db", "mailin"]
