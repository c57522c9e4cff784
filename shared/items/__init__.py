"""Send items through their state machine, with attempt tokens and leases.

``queued → dispatched → running → submitting → sent | failed | skipped | in_doubt``
(plus ``cancelled``, and ``queued`` again for a retry of a failure *before* submitting).

Who calls what:

* the dispatcher: :func:`claim` (queued → dispatched, a fresh attempt token and a lease),
  :func:`redispatch` (a dispatched item whose RQ job Redis lost), :func:`reap`;
* the send job: :func:`start` (dispatched → running), :func:`renew_lease`,
  :func:`enter_submitting` (the point of no return, committed before the final click) and
  :func:`record_outcome`;
* operators: :func:`resolve_in_doubt`; the site's mail: :func:`resolve_in_doubt_by_mail`.

Every change of an item's state locks its reservation row first
(``shared.locks.lock_reservation``) and changes the reservation's counters in the same
transaction, so counts cannot drift and two writers (the dispatcher and a worker, say) cannot
lose each other's counter updates. Nothing here commits: the caller's
``shared.db.transaction`` does, and publishes the events then.

The dispatcher's side is ``_dispatch``, the send job's and the operators' side ``_attempt``, the
moves both make ``_machine``; what a reservation does when its items change (completion,
auto-cancel, the error-threshold auto-pause) is ``shared.lifecycle``.
"""

from shared.items._attempt import (
    MAX_ATTEMPTS,
    RETRYABLE_REASONS,
    Outcome,
    OutcomeLike,
    enter_submitting,
    record_outcome,
    renew_lease,
    requeue_for_retry,
    resolve_in_doubt,
    resolve_in_doubt_by_mail,
    retry_delay,
    start,
)
from shared.items._dispatch import capacity, claim, reap, redispatch

__all__ = [
    "MAX_ATTEMPTS",
    "RETRYABLE_REASONS",
    "Outcome",
    "OutcomeLike",
    "capacity",
    "claim",
    "enter_submitting",
    "reap",
    "record_outcome",
    "redispatch",
    "renew_lease",
    "requeue_for_retry",
    "resolve_in_doubt",
    "resolve_in_doubt_by_mail",
    "retry_delay",
    "start",
]
