"""How the worker launches Chromium: with its sandbox on, never as root, with a bare environment.

Chromium refuses its sandbox when it runs as root, and a worker started by root (systemd units,
``make run`` on these machines) would otherwise run every untrusted page in an unsandboxed
root process whose environment holds the database URL. So:

* as root, with the browser user that ``deploy/install.sh`` creates (``mikomi-browser``), the
  browser is started through a small wrapper that hands the profile directory to that user
  and drops to it (``setpriv``) before exec; the sandbox is on;
* as any other user, the browser runs as that user with the sandbox on;
* only as root *without* the browser user does ``--no-sandbox`` remain, with a warning at every
  launch (docs/operations.md#browser-sandbox says how to create the user).

In every case the browser gets a minimal environment: no ``MIKOMI_*`` setting, no secret.
"""

from __future__ import annotations

import logging
import os
import pwd
import shlex
from pathlib import Path
from typing import Any

from shared.config import Settings

log = logging.getLogger(__name__)

BROWSER_USER = "mikomi-browser"
# What the browser needs of the environment; everything else (database URL, Redis password,
# API keys) stays out of reach of the pages it renders.
_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "FONTCONFIG_PATH", "FONTCONFIG_FILE", "TMPDIR")

_WRAPPER = """#!/bin/sh
# Written by worker/browser_user.py. Playwright starts this as root: give the profile
# directory to the browser user, then become that user and run the browser (sandbox on).
set -eu
for arg in "$@"; do
    case "$arg" in --user-data-dir=*) chown -R {user}: "${{arg#--user-data-dir=}}" ;; esac
done
exec setpriv --reuid={user} --regid={group} --init-groups -- env HOME=/tmp {browser} "$@"
"""


def browser_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["HOME"] = "/tmp"
    return env


def _browser_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(BROWSER_USER)
    except KeyError:
        return None


def _wrapper_for(settings: Settings, account: pwd.struct_passwd) -> str:
    run_dir = Path(settings.var_dir) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    text = _WRAPPER.format(
        user=shlex.quote(account.pw_name),
        group=account.pw_gid,
        browser=shlex.quote(settings.effective_browser_path),
    )
    path = run_dir / f"browser-as-{account.pw_name}.sh"
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(path)
    return str(path)


def launch_options(settings: Settings) -> dict[str, Any]:
    """``executable_path``, ``chromium_sandbox`` and ``env`` for ``chromium.launch``."""
    options: dict[str, Any] = {
        "executable_path": settings.effective_browser_path,
        "chromium_sandbox": True,
        "env": browser_env(),
    }
    if os.geteuid() != 0:
        return options
    account = _browser_account()
    if account is not None:
        options["executable_path"] = _wrapper_for(settings, account)
        return options
    log.warning(
        "the browser runs as root without its sandbox: create the user %s "
        "(deploy/install.sh does) so that pages run sandboxed as that user",
        BROWSER_USER,
    )
    options["chromium_sandbox"] = False  # Playwright then passes --no-sandbox
    return options
