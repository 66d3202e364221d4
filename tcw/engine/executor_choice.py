"""Which executor runs a queue's tasks: a choice between names, made before the first claim.

The engine only chooses the name (``spec``); loading it into an ``Executor`` is the caller's
(``tcw.executors.loader.resolve_executor``), so the engine never depends on a concrete executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tcw.config import WorkerSettings
from tcw.errors import ConfigError
from tcw.registry import keys

if TYPE_CHECKING:
    from tcw.registry import RegistryEntry


@dataclass(frozen=True)
class ExecutorChoice:
    spec: str
    origin: str  # where the choice came from, for the worker's start-up log line


def choose_executor(
    task_queue_id: str, settings: WorkerSettings, registry_entry: RegistryEntry | None
) -> ExecutorChoice:
    """The executor for the worker's queue, first found of:

    1. the config's per-queue ``worker.executors`` mapping (the most specific key matching the queue);
    2. the ``executor`` of the queue's payload-schema registry entry (an index file's
       ``{schema: ..., executor: ...}``, an entry point's ``PayloadSchema``, or the built-in schema's own:
       ``shell`` for ``shell``);
    3. ``worker.executor`` (``--executor``; default ``shell``).

    The registry entry comes before ``worker.executor`` because it describes that queue's payloads, which
    the executor must understand; ``worker.executors`` overrides both for the queues it names.
    """
    key = per_queue_key(task_queue_id, settings.executors)
    if key is not None:
        return ExecutorChoice(settings.executors[key], f"worker.executors[{key!r}]")
    if registry_entry is not None and registry_entry.executor:
        return ExecutorChoice(registry_entry.executor, f"registry entry {registry_entry.describe()}")
    return ExecutorChoice(settings.executor, "worker.executor")


def per_queue_key(task_queue_id: str, per_queue: Mapping[str, str]) -> str | None:
    """The key of ``per_queue`` that applies to ``task_queue_id`` (``provisionerId/workerType``), if any.

    Keys are matched as the payload-schema registry matches its keys (``keys.most_specific``). Unlike the
    registry, the config's mapping is not checked for ties when loaded, so two equally specific globs
    that both match are refused here, as a configuration error rather than a coin toss.
    """
    tied = keys.most_specific(per_queue, task_queue_id)
    if len(tied) > 1:
        raise ConfigError(
            [
                f"worker.executors: task queue {task_queue_id} matches {' and '.join(tied)} "
                "equally; make one of them more specific"
            ]
        )
    return tied[0] if tied else None
