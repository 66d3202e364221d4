"""Schema files for the registry tests: writing schema directories, reading tests/registry/data, and
serving a directory over HTTP."""

from __future__ import annotations

import functools
import http.server
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.http_server import serving

DATA = Path(__file__).resolve().parents[1] / "registry" / "data"  # schema files the registry tests read


def write_json(path: Path, content: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content), encoding="utf-8")
    return path


def load_data(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_directory(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (a stand-in for a deployment's /schemas); yields the base URL."""
    with serving(functools.partial(_QuietHandler, directory=str(root))) as url:
        yield url


def problems_as_tuples(problems: Any) -> list[tuple[str, str, str]]:
    return [(p.path, p.rule, p.message) for p in problems]


def schema_files(files: Mapping[str, Any], root: Path) -> None:
    for name, content in files.items():
        write_json(root / name, content)
