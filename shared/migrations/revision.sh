#!/bin/sh
# Add a schema revision generated from shared/models.py:
#   shared/migrations/revision.sh 0003_short_name "what changes, in a few words"
# It upgrades a scratch SQLite database to the current head and lets Alembic compare it with
# the models. Read the result before committing.
set -e
[ $# -eq 2 ] || { echo "usage: $0 REV_ID MESSAGE" >&2; exit 2; }
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
.venv/bin/python - "$tmp" "$1" "$2" <<'PY'
import sys
from alembic import command
from shared.migrate import alembic_config
tmp, rev_id, message = sys.argv[1:]
cfg = alembic_config(f"sqlite:///{tmp}/gen.db")
command.upgrade(cfg, "head")
command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)
PY
for f in shared/migrations/versions/"$1"_*.py; do
  mv "$f" shared/migrations/versions/"$1".py
done
.venv/bin/ruff format -q shared/migrations/versions/"$1".py
.venv/bin/ruff check -q --fix shared/migrations/versions/"$1".py
