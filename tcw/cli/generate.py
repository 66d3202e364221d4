"""Generate ``completions/`` and ``man/`` from the click app (``make generated``).

Both are derived from the commands themselves so they cannot drift: a test runs ``render_all`` and fails
when a checked-in file differs. The output has no dates, so regenerating an unchanged app changes nothing.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

import click
from click.shell_completion import BashComplete, FishComplete, ZshComplete

from tcw import __version__
from tcw.cli.main import cli

PROG = "tcw"
COMPLETE_VAR = "_TCW_COMPLETE"


def walk(
    command: click.Command = cli, name: str = PROG, parent: click.Context | None = None
) -> Iterator[click.Context]:
    """A context for every command in the tree, parents first, chained as at run time so subcommands
    inherit the root's settings (``-h`` as well as ``--help``)."""
    ctx = click.Context(command, parent=parent, info_name=name, **command.context_settings)
    yield ctx
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            sub = command.get_command(ctx, sub_name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, sub_name, ctx)


def _path(ctx: click.Context) -> tuple[str, ...]:
    return tuple(ctx.command_path.split())


def _roff(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line for line in escaped.splitlines())


def _help_paragraphs(command: click.Command) -> list[str]:
    """Click help text as roff: blank lines separate paragraphs; a ``\\b`` paragraph stays verbatim."""
    out: list[str] = []
    for paragraph in inspect.cleandoc(command.help or "").split("\n\n"):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            out += [".PP", ".nf", *(_roff(line) for line in lines[1:]), ".fi"]
        elif lines:
            out += [".PP", _roff(" ".join(line.strip() for line in lines))]
    return out


ENVIRONMENT = [
    ("TASKCLUSTER_ROOT_URL", "Taskcluster root URL, as the official clients read it."),
    ("TASKCLUSTER_CLIENT_ID, TASKCLUSTER_ACCESS_TOKEN, TASKCLUSTER_CERTIFICATE", "Credentials."),
    ("TCW_CONFIG", "YAML config file, as --config."),
    ("TCW_<SECTION>_<KEY>", "Any config setting, e.g. TCW_WORKER_CAPACITY=4 for worker.capacity."),
]


def man_page(ctx: click.Context) -> str:
    command = ctx.command
    path = _path(ctx)
    name = "-".join(path)
    out = [
        f'.TH "{name.upper()}" "1" "" "tcw {__version__}" "tcw manual"',
        ".SH NAME",
        f"{_roff(name)} \\- {_roff(command.get_short_help_str(limit=200))}",
        ".SH SYNOPSIS",
        f".B {_roff(ctx.command_path)}",
        _roff(" ".join(command.collect_usage_pieces(ctx))),
        ".SH DESCRIPTION",
        *_help_paragraphs(command),
        *_options_section(ctx),
        *_commands_section(ctx),
    ]
    if len(path) == 1:
        out.append(".SH ENVIRONMENT")
        for variable, meaning in ENVIRONMENT:
            out += [".TP", f".B {_roff(variable)}", _roff(meaning)]
    else:
        out += [".SH SEE ALSO", "\\fBtcw\\fR(1)"]
    return "\n".join(out) + "\n"


def _options_section(ctx: click.Context) -> list[str]:
    records = [
        p.get_help_record(ctx)
        for p in ctx.command.get_params(ctx)
        if isinstance(p, click.Option) and not p.hidden
    ]
    out = [line for r in records if r for line in (".TP", f".B {_roff(r[0])}", _roff(r[1] or ""))]
    return [".SH OPTIONS", *out] if out else []


def _commands_section(ctx: click.Context) -> list[str]:
    group = ctx.command
    if not isinstance(group, click.Group):
        return []
    out = [".SH COMMANDS"]
    for sub_name in group.list_commands(ctx):
        sub = group.get_command(ctx, sub_name)
        if sub is not None and not sub.hidden:
            out += [".TP", f".B {_roff(sub_name)}", _roff(sub.get_short_help_str(limit=200))]
            out.append(f"See \\fB{_roff('-'.join((*_path(ctx), sub_name)))}\\fR(1).")
    return out


def completion_scripts() -> dict[str, str]:
    classes = {"tcw.bash": BashComplete, "_tcw.zsh": ZshComplete, "tcw.fish": FishComplete}
    return {name: cls(cli, {}, PROG, COMPLETE_VAR).source() for name, cls in classes.items()}


def render_all() -> dict[Path, str]:
    """Every generated file, relative to the repository root, with its content."""
    files = {Path("completions") / name: text for name, text in completion_scripts().items()}
    for ctx in walk():
        files[Path("man") / f"{'-'.join(_path(ctx))}.1"] = man_page(ctx)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for relative, text in render_all().items():
        target = args.root / relative
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(relative)
        if not args.check:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    for relative in stale:
        print(f"{'stale' if args.check else 'wrote'}: {relative}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
