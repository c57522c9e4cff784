"""The injectable clock: every time-based rule asks this module for "now".

Tests move time with :func:`set_clock`; a frozen or offset clock in one process is enough
because each rule takes ``now`` from here, never from ``datetime.now`` directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_offset = timedelta(0)
_fixed: datetime | None = None


def now() -> datetime:
    """Aware UTC now (or the test's clock)."""
    if _fixed is not None:
        return _fixed
    return datetime.now(UTC) + _offset


def set_clock(fixed: datetime | None = None, offset: timedelta | None = None) -> None:
    global _fixed, _offset
    _fixed = fixed
    _offset = offset or timedelta(0)


def advance(delta: timedelta) -> None:
    """Move the clock forward (works for both the fixed and the offset clock)."""
    global _fixed, _offset
    if _fixed is not None:
        _fixed = _fixed + delta
    else:
        _offset = _offset + delta


def reset() -> None:
    set_clock(None, None)
