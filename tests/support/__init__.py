"""Helpers the tests share that are neither fixtures (those live in conftest.py files) nor data
builders (tests/builders.py): running processes, a fleet, a live coordinator, logging in to the
web UI, an SMTP inbox. Plain modules with public names; see tests/README.md."""
