"""Reading schema documents from files and URLs; a URL is fetched once and then read from a disk cache.

The cache is keyed by the URL (a hash of it, plus its file name for people browsing the directory) and
never expires on its own: a deployment's schema for a worker version does not change under the same URL
often, and a worker must not depend on the network to validate. Delete the cache directory, or pass
``refresh=True``, to fetch again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tcw.errors import ConfigError
from tcw.registry.check_cache import CheckCache

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 30.0
YAML_SUFFIXES = (".yaml", ".yml")


def parse_schema_text(text: str, name: str, where: str) -> Any:
    """JSON, or YAML when the name says so (YAML is a superset, but JSON errors read better)."""
    if name.endswith(YAML_SUFFIXES):
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ConfigError([f"{where}: not valid YAML: {error}"]) from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise ConfigError([f"{where}: not valid JSON: {error}"]) from error


def read_schema_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read schema file: {error}"]) from error
    return parse_schema_text(text, path.name, str(path))


class SchemaFetcher:
    """Reads documents by absolute URI: ``file://`` from disk, ``http(s)://`` through the cache."""

    def __init__(self, cache_dir: Path, *, refresh: bool = False) -> None:
        self.cache_dir = cache_dir
        self.refresh = refresh
        self.check_cache = CheckCache(cache_dir / "checks")  # for the entries made from these documents
        self._documents: dict[str, Any] = {}

    def __call__(self, uri: str) -> Any:
        return self.document(uri)

    def document(self, uri: str) -> Any:
        """The parsed document at ``uri`` (a fragment, if any, is ignored)."""
        uri = uri.split("#", 1)[0]
        if uri not in self._documents:
            self._documents[uri] = self._load(uri)
        return self._documents[uri]

    def _load(self, uri: str) -> Any:
        parts = urlsplit(uri)
        if parts.scheme == "file":
            return read_schema_file(Path(unquote(parts.path)))
        if parts.scheme in ("http", "https"):
            return parse_schema_text(self._cached_text(uri), parts.path, uri)
        raise ConfigError([f"{uri}: cannot read a schema from this kind of URI (use file, http or https)"])

    def cache_path(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        name = Path(urlsplit(url).path).name or "schema"
        return self.cache_dir / f"{digest}-{name}"

    def _cached_text(self, url: str) -> str:
        path = self.cache_path(url)
        if not self.refresh:
            try:
                return path.read_text(encoding="utf-8")
            except FileNotFoundError:
                pass
            except (OSError, UnicodeDecodeError) as error:
                log.warning("schema cache %s unreadable (%s); fetching %s again", path, error, url)
        text = _download(url)
        _write_atomically(path, text)
        return text


def _download(url: str) -> str:
    import requests

    log.info("fetching schema %s", url)
    try:
        response = requests.get(url, timeout=FETCH_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
    except requests.RequestException as error:
        raise ConfigError([f"{url}: cannot fetch schema: {error}"]) from error
    return response.text


def _write_atomically(path: Path, text: str) -> None:
    """Two workers filling the cache at once never see half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, encoding="utf-8") as handle:
            handle.write(text)
        os.replace(handle.name, path)
    except OSError as error:
        log.warning("cannot cache schema in %s: %s", path, error)
