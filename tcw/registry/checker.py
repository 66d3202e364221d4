"""Checking documents against the registry: a request in, one result per document out, nothing printed.

The reporters (tcw.registry.reporters) render a ``ValidationReport``; the CLI only wires them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from tcw.config import RegistrySettings
from tcw.errors import ExitCode, UsageError
from tcw.registry.documents import Document, Subject, subject_of
from tcw.registry.entry import RegistryEntry
from tcw.registry.problems import PayloadProblem
from tcw.registry.registry import Registry, load_registry, load_schema

Status = Literal["valid", "invalid", "error"]


@dataclass(frozen=True)
class ValidationRequest:
    """What `tcw validate-payload` was asked, parsed once."""

    files: tuple[str, ...] = ()
    task_ids: tuple[str, ...] = ()
    task_queue: str | None = None  # the queue for bare payloads; overrides a task's own
    schema: str | None = None  # a file, URL or registry key used for every document


@dataclass(frozen=True)
class DocumentResult:
    """The verdict on one document; ``error`` says why it could not be checked at all."""

    source: str
    position: int
    task_id: str | None = None
    is_task: bool = False
    task_queue_id: str | None = None
    entry: RegistryEntry | None = None
    problems: tuple[PayloadProblem, ...] = ()
    error: str | None = None

    @property
    def status(self) -> Status:
        if self.error is not None:
            return "error"
        return "invalid" if self.problems else "valid"


@dataclass(frozen=True)
class ValidationReport:
    results: tuple[DocumentResult, ...]

    def count(self, status: Status) -> int:
        return sum(1 for result in self.results if result.status == status)

    @property
    def exit_code(self) -> ExitCode:
        """2 if any document could not be checked, else 1 if any is invalid, else 0."""
        if self.count("error"):
            return ExitCode.USAGE
        return ExitCode.FAILED if self.count("invalid") else ExitCode.OK


QueueEntry = Callable[[Registry, str], RegistryEntry]
"""The schema of a task queue given the registry; the CLI passes the worker's own choice
(``tcw.engine.payload.queue_schema``), so a verdict here is the worker's."""


class SchemaChooser:
    """Picks each document's schema; loads the registry only when a document needs it."""

    def __init__(
        self,
        request: ValidationRequest,
        settings: RegistrySettings,
        root_url: str | None = None,
        queue_entry: QueueEntry | None = None,
    ) -> None:
        self.request = request
        self.settings = settings
        self.root_url = root_url
        self.queue_entry = queue_entry or Registry.entry_for
        self._registry: Registry | None = None
        self._override: RegistryEntry | None = None
        self._by_queue: dict[str, RegistryEntry] = {}

    def queue_for(self, subject: Subject) -> str | None:
        return self.request.task_queue or subject.task_queue_id

    def entry_for(self, subject: Subject) -> RegistryEntry:
        """The schema for ``subject``; ``UsageError`` (not ``ConfigError``) is that document's problem."""
        if self.request.schema:
            if self._override is None:
                self._override = load_schema(self.request.schema, self.settings, root_url=self.root_url)
            return self._override
        queue = self.queue_for(subject)
        if queue is None:
            what = "the task names no task queue" if subject.is_task else "a bare payload"
            raise UsageError(f"{what}: name its task queue with --task-queue P/W, or a schema with --schema")
        if self._registry is None:
            self._registry = load_registry(self.settings, root_url=self.root_url)
        if queue not in self._by_queue:
            self._by_queue[queue] = self.queue_entry(self._registry, queue)
        return self._by_queue[queue]


def validate_documents(documents: Iterable[Document], chooser: SchemaChooser) -> ValidationReport:
    """Every document checked, in order; a bad config stops everything (``ConfigError``)."""
    return ValidationReport(tuple(check_document(document, chooser) for document in documents))


def check_document(document: Document, chooser: SchemaChooser) -> DocumentResult:
    result = DocumentResult(document.source, document.position, task_id=document.task_id)
    if document.error is not None:
        return replace(result, error=document.error)
    subject = subject_of(document.content)
    result = replace(result, is_task=subject.is_task, task_queue_id=chooser.queue_for(subject))
    try:
        entry = chooser.entry_for(subject)
    except UsageError as error:  # a ConfigError (a broken registry) is not one: it stops all
        return replace(result, error=error.message)
    if not subject.has_payload:
        missing = PayloadProblem("payload", "required", "the task definition has no payload")
        return replace(result, entry=entry, problems=(missing,))
    return replace(result, entry=entry, problems=tuple(entry.validate(subject.payload)))
