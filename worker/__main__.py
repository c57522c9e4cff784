"""``python -m worker [--processes N] [--queue NAME …]``: the sending workers."""

from __future__ import annotations

import argparse

from shared import logs
from worker.main import DEFAULT_QUEUES, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument("-n", "--processes", type=int, default=1)
    parser.add_argument("--queue", action="append", dest="queues")
    args = parser.parse_args()
    logs.configure("worker")
    return run(args.processes, tuple(args.queues or DEFAULT_QUEUES))


if __name__ == "__main__":
    raise SystemExit(main())
