"""``python -m worker [--processes N] [--queue NAME …]``: the sending workers."""

from __future__ import annotations

import argparse
import logging

from worker.main import DEFAULT_QUEUES, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m worker", description=__doc__)
    parser.add_argument("-n", "--processes", type=int, default=1)
    parser.add_argument("--queue", action="append", dest="queues")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return run(args.processes, tuple(args.queues or DEFAULT_QUEUES))


if __name__ == "__main__":
    raise SystemExit(main())
