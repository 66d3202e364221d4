"""The documents `tcw validate-payload` checks: files (JSON or YAML, several YAML documents each), standard
input, and live tasks fetched from the queue.

A document that cannot be read or parsed becomes a ``Document`` carrying the error, so one bad file is
reported beside the others instead of stopping the run.

YAML is read without YAML's timestamp type: ``expires: 2030-01-01T00:00:00Z`` stays the string a JSON
task would hold, which is what Taskcluster's schemas expect.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from tcw.taskcluster_client import ClientFailure, client_failures, read_failure, sync_queue

STDIN = "-"
STDIN_NAME = "<stdin>"
_TASK_MARKERS = ("taskQueueId", "provisionerId", "workerType")


@dataclass(frozen=True)
class Document:
    """One document: where it came from, its 1-based position there, and its content or why none."""

    source: str
    position: int = 1
    content: Any = None
    error: str | None = None
    task_id: str | None = None


@dataclass(frozen=True)
class Subject:
    """What a document asks to validate: a payload, and the task queue naming its schema if it says."""

    payload: Any
    is_task: bool
    task_queue_id: str | None
    has_payload: bool = True


def subject_of(content: Any) -> Subject:
    """A whole task definition (it names a queue, or has payload and metadata) or a bare payload."""
    if not _is_task(content):
        return Subject(content, is_task=False, task_queue_id=None)
    return Subject(
        content.get("payload"),
        is_task=True,
        task_queue_id=_task_queue_id(content),
        has_payload="payload" in content,
    )


def _is_task(content: Any) -> bool:
    if not isinstance(content, dict):
        return False
    return any(marker in content for marker in _TASK_MARKERS) or {"payload", "metadata"} <= content.keys()


def _task_queue_id(task: Mapping[str, Any]) -> str | None:
    queue = task.get("taskQueueId")
    if isinstance(queue, str):
        return queue
    provisioner, worker_type = task.get("provisionerId"), task.get("workerType")
    if isinstance(provisioner, str) and isinstance(worker_type, str):
        return f"{provisioner}/{worker_type}"
    return None


def read_inputs(paths: Iterable[str], stdin: TextIO) -> Iterator[Document]:
    """Every document of every named file, in order; ``-`` is standard input."""
    for path in paths:
        if path == STDIN:
            yield from parse_documents(stdin.read(), STDIN_NAME)
            continue
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            yield Document(path, error=f"cannot read: {getattr(error, 'strerror', None) or error}")
            continue
        yield from parse_documents(text, path)


def parse_documents(text: str, source: str) -> list[Document]:
    """JSON when the name ends .json; else JSON if it parses, then YAML (several documents allowed)."""
    if source.endswith(".json") or not source.endswith((".yaml", ".yml")):
        try:
            return [Document(source, 1, json.loads(text))]
        except RecursionError:
            return [Document(source, error="nested too deeply to read")]
        except ValueError as error:
            if source.endswith(".json"):
                return [Document(source, error=f"not valid JSON: {error}")]
    return _parse_yaml(text, source)


def _parse_yaml(text: str, source: str) -> list[Document]:
    import yaml

    documents: list[Document] = []
    try:
        for position, content in enumerate(yaml.load_all(text, Loader=_loader()), start=1):
            if content is not None:
                documents.append(Document(source, position, content))
    except RecursionError:
        documents.append(Document(source, len(documents) + 1, error="nested too deeply to read"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        documents.append(Document(source, len(documents) + 1, error=f"not valid YAML{where}: {error}"))
    if not documents:
        documents.append(Document(source, error="holds no document"))
    return documents


@cache
def _loader() -> type[Any]:
    import yaml

    class JsonLikeLoader(yaml.SafeLoader):
        """SafeLoader without timestamps, so dates stay strings as in JSON."""

    JsonLikeLoader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return JsonLikeLoader


def fetch_tasks(task_ids: Iterable[str], client_options: Mapping[str, Any]) -> Iterator[Document]:
    """Live task definitions from the queue, through the official client; a failure is that task's error."""
    queue = sync_queue(client_options)
    for task_id in task_ids:
        source = f"task {task_id}"
        try:
            yield Document(source, content=queue.task(task_id), task_id=task_id)
        except client_failures() as error:
            yield Document(
                source, error=f"cannot fetch: {_fetch_failure(read_failure(error))}", task_id=task_id
            )


def _fetch_failure(failure: ClientFailure) -> str:
    if failure.status == 404:
        return "no such task"
    return f"HTTP {failure.status}: {failure.message}" if failure.status else failure.message
