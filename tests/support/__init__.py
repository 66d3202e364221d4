"""Helpers the tests share, one module per thing they hold; the pytest fixtures built on them live in the
conftest.py files, so a helper is imported and a fixture is requested, never the other way round."""
