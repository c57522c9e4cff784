#!/bin/sh
# Installs what Mikomi needs on a Debian machine, idempotently:
#   deploy/install.sh            the system (browser, redis-server, fonts, venv with the project)
#   deploy/install.sh --test     also PostgreSQL, and makes sure Redis and PostgreSQL answer
#   deploy/install.sh --role coordinator|worker|all
#                                what this host runs (default all): a coordinator host gets no
#                                browser and no redis-server, a worker host no redis-server
#   deploy/install.sh --worker-db-role NAME
#                                then creates (or updates) the sending workers' least-privilege
#                                PostgreSQL role NAME in MIKOMI_DATABASE_URL's database, with the
#                                password in MIKOMI_WORKER_DB_PASSWORD
#                                (docs/operations.md#a-least-privilege-database-role-for-workers)
# A second run skips everything already in place and takes a second or two.
set -eu
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WANT_TEST=0
WORKER_DB_ROLE=""
ROLE=all
usage() { echo "usage: deploy/install.sh [--test] [--role coordinator|worker|all] [--worker-db-role NAME]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --test) WANT_TEST=1 ;;
        --role) ROLE="${2:-}"; shift ;;
        --worker-db-role) WORKER_DB_ROLE="${2:?--worker-db-role needs a role name}"; shift ;;
        *) usage ;;
    esac
    shift
done
case "$ROLE" in coordinator|worker|all) ;; *) usage ;; esac
[ $WANT_TEST -eq 1 ] && ROLE=all  # the tests run every part on this machine

say() { printf '\033[1m[install]\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_updated=0
need_pkgs=""
want_pkg() {
    # want_pkg PKG [ALTERNATIVE]: queue PKG unless it (or the alternative) is installed
    for p in "$@"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then return 0; fi
    done
    need_pkgs="$need_pkgs $1"
}
install_queued() {
    [ -z "$need_pkgs" ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        say "missing packages:$need_pkgs (install them by hand: this is not a Debian machine)"; exit 1
    fi
    if [ $apt_updated -eq 0 ]; then
        say "apt-get update"; $SUDO apt-get update -qq; apt_updated=1
    fi
    say "installing Debian packages:$need_pkgs"
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need_pkgs >/dev/null
    need_pkgs=""
}

PY=${PYTHON:-python3}
command -v "$PY" >/dev/null 2>&1 || want_pkg python3
install_queued
if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then want_pkg python3-venv; fi
if [ "$ROLE" != coordinator ]; then
    want_pkg chromium-headless-shell chromium   # the sending browser
fi
if [ "$ROLE" = all ]; then
    want_pkg redis-server                       # `mikomi up` starts its own
fi
want_pkg fonts-noto-cjk      # screenshots (workers), invoice PDFs (coordinators)
want_pkg ca-certificates
if [ $WANT_TEST -eq 1 ]; then
    want_pkg chromium              # the naive baseline of the benchmark and the UI tests' fallback
    want_pkg postgresql
fi
install_queued

# The browser runs as this unprivileged user, with Chromium's sandbox on, when a worker is
# started as root (worker/browser_user.py); without it, root workers fall back to --no-sandbox.
if [ "$ROLE" != coordinator ] && [ "$(id -u)" -eq 0 ] && ! id mikomi-browser >/dev/null 2>&1; then
    say "creating the unprivileged user mikomi-browser (the browser runs as it, sandboxed)"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin mikomi-browser
fi

# The virtual environment, reinstalled only when the project's dependencies changed.
# Runtime dependencies only, unless the tests are wanted (the dev extras are a superset, so a
# venv made for the tests serves `make run` as it is).
STAMP=.venv/.mikomi-installed
DEPS=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ $WANT_TEST -eq 1 ]; then WANT_STAMP="$DEPS+dev"; TARGET='.[dev]'; else WANT_STAMP="$DEPS"; TARGET='.'; fi
if [ ! -x .venv/bin/python ]; then
    say "creating .venv"; "$PY" -m venv .venv
fi
HAVE_STAMP=$(cat $STAMP 2>/dev/null || true)
if [ "$HAVE_STAMP" != "$WANT_STAMP" ] && [ "$HAVE_STAMP" != "$DEPS+dev" ]; then
    say "installing the project into .venv ($TARGET)"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -c constraints.txt -e "$TARGET"
    echo "$WANT_STAMP" > $STAMP
fi
mkdir -p var

if [ $WANT_TEST -eq 1 ]; then
    # Redis on 6379 for the tests (the system under `make run` starts its own).
    if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        say "starting redis-server on 127.0.0.1:6379"
        mkdir -p /var/lib/redis /var/log/redis
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.5
        done
    fi
    if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        say "starting PostgreSQL"
        version=$(ls /etc/postgresql | sort -n | tail -1)
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster "$version" main start
        for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
    # Tests connect as postgres over TCP; make that work on a freshly installed server.
    if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1" >/dev/null 2>&1 \
       && ! PGPASSWORD=postgres psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1" >/dev/null 2>&1; then
        say "setting a password for the postgres role (tests use postgres/postgres on 127.0.0.1)"
        su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
    fi
    export PGPASSWORD=postgres
    if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname='test'" | grep -q 1; then
        psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE test"
    fi
fi
if [ -n "$WORKER_DB_ROLE" ]; then
    : "${MIKOMI_WORKER_DB_PASSWORD:?set MIKOMI_WORKER_DB_PASSWORD to the worker role's password}"
    say "granting the worker role $WORKER_DB_ROLE its rights (and no more)"
    .venv/bin/mikomi db worker-role --name "$WORKER_DB_ROLE" \
        --password "$MIKOMI_WORKER_DB_PASSWORD" --apply
fi
say "ready ($ROOT)"
