"""Shared fixtures live in tests/fixtures/, one module per concern, so each has one owner."""

pytest_plugins = [
    "tests.fixtures.cli",
    "tests.fixtures.references",
    "tests.fixtures.queue",
]
