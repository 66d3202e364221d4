"""The merged registry and its one lookup.

Sources are merged in this order, a later one replacing an earlier one's entry for the same key:

1. built-in schemas shipped with tcw (``tcw/registry/schemas/*.json``, keyed by file name: ``shell``);
2. entry points in group ``tcw.payload_schemas`` (other packages' schemas);
3. registry directories (``registry.directories``, in the order given; in each, the
   ``<provisionerId>/<workerType>.json|yaml`` files, then its ``index.yaml|yml|json``);
4. ``registry.schema_urls`` from the config.

Built-in schemas are *named* (no ``/``) and match no task queue on their own, so a worker whose queue has no
entry refuses to start instead of quietly running whatever arrives (unless told to accept any payload).
A queue reaches a named schema through an index file or the config (``proj-*/linux-*: shell``), and then
gets that schema's executor too unless the mapping names another.

Every entry is compiled and checked at load, so a broken schema, an unresolvable ``$ref`` or two glob keys
that tie is a ``ConfigError`` before any task is looked at.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path

from tcw.config import RegistrySettings, default_state_dir
from tcw.errors import ConfigError, UsageError
from tcw.registry import keys
from tcw.registry.entry import RegistryEntry
from tcw.registry.fetch import SchemaFetcher
from tcw.registry.sources import (
    Declaration,
    builtin_declarations,
    directory_declarations,
    entry_point_declarations,
    reference_declaration,
    url_declarations,
)

log = logging.getLogger(__name__)


class UnknownSchema(UsageError):
    """No registry entry for a task queue (or a key); the message names the nearest known keys."""

    def __init__(self, wanted: str, known: Iterable[str]) -> None:
        self.wanted = wanted
        self.known = sorted(known)
        if self.known:
            hint = f"nearest known keys: {', '.join(keys.nearest(self.known, wanted))}"
        else:
            hint = "the registry is empty"
        super().__init__(
            f"no payload schema for {wanted!r} in the registry ({hint}); map it to a schema in a registry "
            "directory (<dir>/<provisionerId>/<workerType>.json, or a pattern in <dir>/index.yaml) "
            "or in registry.schema_urls"
        )


class Registry:
    """Entries by key, and the lookup from a task queue id to the most specific of them."""

    def __init__(self, entries: Iterable[RegistryEntry]) -> None:
        self._entries = {entry.key: entry for entry in entries}

    def entries(self) -> list[RegistryEntry]:
        """Every entry, sorted by key."""
        return [self._entries[key] for key in sorted(self._entries)]

    def keys(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def entry_for(self, task_queue_id: str) -> RegistryEntry:
        """The entry for a task queue: its exact key, else the most specific matching glob."""
        if not keys.is_queue_key(task_queue_id):
            raise UsageError(f"{task_queue_id!r} is not a task queue id (provisionerId/workerType)")
        key = keys.best_key(self._entries, task_queue_id)
        if key is None:
            raise UnknownSchema(task_queue_id, self._entries)
        return self._entries[key]

    def lookup(self, key_or_queue: str) -> RegistryEntry:
        """An entry by its own key (``shell``, ``proj-*/linux-*``), else as a task queue id."""
        if key_or_queue in self._entries:
            return self._entries[key_or_queue]
        if keys.is_queue_key(key_or_queue) and not keys.is_glob(key_or_queue):
            return self.entry_for(key_or_queue)
        raise UnknownSchema(key_or_queue, self._entries)


def load_registry(
    settings: RegistrySettings, *, root_url: str | None = None, refresh: bool = False
) -> Registry:
    """Merge every source (see the module docstring for the order), check it, and return the registry.

    ``root_url`` lets schema references name a deployment's schemas as ``/schemas/...``; ``refresh``
    fetches schema URLs again instead of reading the disk cache.
    """
    fetcher = SchemaFetcher(_cache_dir(settings), refresh=refresh)
    layers = [
        builtin_declarations(fetcher),
        entry_point_declarations(fetcher),
        *(directory_declarations(Path(d).resolve(), fetcher, root_url) for d in settings.directories),
        url_declarations(settings.schema_urls, fetcher, root_url),
    ]
    merged: dict[str, Declaration] = {}
    for declaration in _chain(layers):
        if declaration.key in merged:
            log.debug(
                "registry key %s from %s replaces the one from %s",
                declaration.key,
                declaration.source,
                merged[declaration.key].source,
            )
        merged[declaration.key] = declaration
    registry = Registry(_resolve_aliases(merged))
    _check(registry)
    return registry


def _chain(layers: Iterable[Iterator[Declaration]]) -> Iterator[Declaration]:
    for layer in layers:
        yield from layer


def _cache_dir(settings: RegistrySettings) -> Path:
    return Path(settings.cache_dir) if settings.cache_dir else default_state_dir() / "schemas"


def _resolve_aliases(merged: dict[str, Declaration]) -> list[RegistryEntry]:
    entries: list[RegistryEntry] = []
    problems: list[str] = []
    for declaration in merged.values():
        target = _alias_target(declaration, merged)
        if target is None:
            problems.append(
                f"{declaration.source}: {declaration.key} points at schema {declaration.alias_of!r}, "
                f"which no source provides (named schemas: {', '.join(_names(merged)) or 'none'})"
            )
        elif declaration.alias_of is None:
            entries.append(target)
        else:
            source = f"{declaration.source} -> {target.key} ({target.source})"
            entries.append(target.under_key(declaration.key, source, declaration.executor))
    if problems:
        raise ConfigError(problems)
    return entries


def _alias_target(declaration: Declaration, merged: dict[str, Declaration]) -> RegistryEntry | None:
    seen = {declaration.key}
    while declaration.entry is None:
        target = merged.get(declaration.alias_of or "")
        if target is None or target.key in seen:
            return None
        seen.add(target.key)
        declaration = target
    return declaration.entry


def _names(merged: dict[str, Declaration]) -> list[str]:
    return sorted(key for key in merged if not keys.is_queue_key(key))


def _check(registry: Registry) -> None:
    """Ties between globs, then every schema compiled: all problems reported together."""
    problems = [
        f"registry keys {first} and {second} tie: both could match the same task queue with the same "
        f"specificity ({registry.lookup(first).source}; {registry.lookup(second).source}); "
        "add an exact key or make one pattern more specific"
        for first, second in keys.find_ties(registry.keys())
    ]
    for entry in registry.entries():
        try:
            entry.check()
        except ConfigError as error:
            problems.extend(error.problems)
    if problems:
        raise ConfigError(dict.fromkeys(problems))


@cache
def _builtins() -> Registry:
    fetcher = SchemaFetcher(default_state_dir() / "schemas")
    return Registry(declaration.entry for declaration in builtin_declarations(fetcher) if declaration.entry)


def builtin_schema(name: str) -> RegistryEntry:
    """A schema tcw ships (``shell``), without loading any other source."""
    registry = _builtins()
    if name not in registry:
        raise UnknownSchema(name, registry.keys())
    return registry.lookup(name)


def load_schema(reference: str, settings: RegistrySettings, *, root_url: str | None = None) -> RegistryEntry:
    """One schema named outright (``--schema``): a file, a URL, or a registry key such as ``shell``.

    Only a key loads the whole registry; a file or URL is read and checked alone.
    """
    fetcher = SchemaFetcher(_cache_dir(settings))
    if Path(reference).is_file():
        reference = str(Path(reference).resolve())
    declaration = reference_declaration(reference, reference, "--schema", fetcher, root_url, Path.cwd())
    if declaration.entry is None:
        return load_registry(settings, root_url=root_url).lookup(reference)
    declaration.entry.check()
    return declaration.entry
