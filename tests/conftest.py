"""Shared fixtures live in tests/fixtures/, one module per concern, so each has one owner."""

pytest_plugins = [
    "tests.fixtures.cli",
    "tests.fixtures.references",
    "tests.fixtures.queue",
]

import os  # noqa: E402

# CI runs the suite as root, and a worker running as root refuses to run tasks as root unless told to:
# every worker the suite starts (in-process, `tcw` processes, CliRunner) is told so here, once.
# tests/engine/test_hardening.py runs tasks as a real task user, and checks the refusal itself.
os.environ.setdefault("TCW_WORKER_ALLOW_ROOT_TASKS", "true")
