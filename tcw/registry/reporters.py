"""Rendering a ``ValidationReport``: text for people, JSON for tools. They return strings; the CLI prints.

The JSON shape is stable and documented in docs/output-formats.md; keep the two in step.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from tcw.registry.checker import DocumentResult, ValidationReport
from tcw.registry.problems import render_problems_text

JSON_VERSION = 1


def render_json(report: ValidationReport) -> str:
    document = {
        "version": JSON_VERSION,
        "valid": report.exit_code == 0,
        "counts": _counts(report),
        "results": [_result_json(result) for result in report.results],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def _counts(report: ValidationReport) -> dict[str, int]:
    return {
        "documents": len(report.results),
        "valid": report.count("valid"),
        "invalid": report.count("invalid"),
        "error": report.count("error"),
    }


def _result_json(result: DocumentResult) -> dict[str, Any]:
    return {
        "source": result.source,
        "document": result.position,
        "taskId": result.task_id,
        "kind": "task" if result.is_task else "payload",
        "taskQueueId": result.task_queue_id,
        "status": result.status,
        "schema": result.entry.to_json() if result.entry else None,
        "problems": [problem.to_json() for problem in result.problems],
        "error": result.error,
    }


def render_text(report: ValidationReport, *, color: bool = False) -> str:
    """One block per document (the problem list is the one the engine writes into task logs), then a tally."""
    per_source = Counter(result.source for result in report.results)
    blocks = [
        _result_text(result, color, numbered=per_source[result.source] > 1) for result in report.results
    ]
    counts = _counts(report)
    tally = (
        f"{counts['documents']} document{'s' if counts['documents'] != 1 else ''}: "
        f"{counts['valid']} valid, {counts['invalid']} invalid, {counts['error']} not checked"
    )
    return "".join(blocks) + _paint(tally, _tally_color(report), color) + "\n"


def _result_text(result: DocumentResult, color: bool, *, numbered: bool) -> str:
    """``numbered``: the source holds several documents, so each block says which one it is."""
    label = f"{result.source} (document {result.position})" if numbered else result.source
    if result.task_queue_id:
        label += f", task queue {result.task_queue_id}"
    if result.error is not None:
        return f"{label}: {_paint('error', 'red', color)}: {result.error}\n"
    assert result.entry is not None
    if not result.problems:
        return f"{label}: {_paint('valid', 'green', color)} ({result.entry.key})\n"
    return f"{label}: {_paint('invalid', 'red', color)}\n" + render_problems_text(
        result.entry, result.problems
    )


def _tally_color(report: ValidationReport) -> str:
    return "green" if report.exit_code == 0 else "red"


def _paint(text: str, colour: str, enabled: bool) -> str:
    if not enabled:
        return text
    import click

    return click.style(text, fg=colour, bold=True)
