#!/bin/sh
# Until the first release the schema lives in one initial migration, regenerated from
# shared/models.py. After the first release, add revisions with `alembic revision --autogenerate`.
set -e
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
rm -f shared/migrations/versions/0001_initial.py
.venv/bin/python - "$tmp" <<'PY'
import sys
from alembic import command
from shared.migrate import alembic_config
cfg = alembic_config(f"sqlite:///{sys.argv[1]}/gen.db")
command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001_initial")
PY
mv shared/migrations/versions/0001_initial_initial_schema.py shared/migrations/versions/0001_initial.py
.venv/bin/ruff format -q shared/migrations/versions/0001_initial.py
.venv/bin/ruff check -q --fix shared/migrations/versions/0001_initial.py
rm -rf "$tmp"
