"""How the CLI's human output looks: rich on a terminal; off one (a pipe, a file, a CI log) every line whole.

Rich lays output out for a terminal's width, and without a terminal it assumes 80 columns: a piped table
truncated its times (``2026-12-0…``) and a log line broke a URL in two. Off a terminal, tables therefore
print as tab-separated rows (a header, then one row a line, for ``cut`` and ``awk``) and other rich output
gets a console too wide to wrap anything.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click
from rich.console import Console
from rich.errors import MarkupError
from rich.table import Table
from rich.text import Text

F = TypeVar("F", bound=Callable[..., Any])

UNBOUNDED_WIDTH = 1_000_000  # columns of a console with no terminal: nothing is wrapped or cut


def is_terminal(stream: IO[str] | None = None) -> bool:
    stream = sys.stdout if stream is None else stream
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def console(*, stderr: bool = False) -> Console:
    """A rich console for stdout (or stderr): the terminal's own, or an unbounded plain one."""
    stream = sys.stderr if stderr else sys.stdout
    if is_terminal(stream):
        return Console(stderr=stderr, highlight=False)
    return plain_console(stream)


def plain_console(stream: IO[str]) -> Console:
    """A console for a pipe or a file: no colour, and so wide that nothing is wrapped or cut."""
    return Console(file=stream, width=UNBOUNDED_WIDTH, soft_wrap=True, highlight=False, color_system=None)


def print_table(table: Table) -> None:
    """The table drawn by rich on a terminal, else as tab-separated rows with every cell whole."""
    if is_terminal():
        Console(highlight=False).print(table)
        return
    rows = [[column.header for column in table.columns]]
    columns = [list(column.cells) for column in table.columns]
    rows += [list(row) for row in zip(*columns, strict=True)]
    for row in rows:
        sys.stdout.write("\t".join(_plain(cell) for cell in row) + "\n")
    sys.stdout.flush()


def _plain(cell: Any) -> str:
    """A cell's text without markup; tabs and newlines would break the row, so they become spaces."""
    if isinstance(cell, Text):
        text = cell.plain
    elif isinstance(cell, str):
        try:
            text = Text.from_markup(cell).plain
        except MarkupError:
            text = cell
    else:
        text = str(cell)
    return " ".join(text.replace("\t", " ").splitlines())


def format_option(help: str) -> Callable[[F], F]:
    """``--format text|json`` (into ``output_format``), as every command that can print JSON takes it."""
    return click.option(
        "--format", "output_format", type=click.Choice(["text", "json"]), default="text", help=help
    )
