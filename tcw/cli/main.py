"""The ``tcw`` command: shared options, lazy subcommands, and the one place errors become exit codes.

Subcommands are imported only when they run (or when help lists them), so ``tcw --help`` stays fast and
never imports aiohttp or the taskcluster client.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from tcw import __version__
from tcw.config import Config, load_config
from tcw.errors import ExitCode, TcwError

log = logging.getLogger(__name__)

# name -> "module:attribute"; each module owns one command (or one group of commands).
SUBCOMMANDS: dict[str, str] = {
    "run": "tcw.cli.run:run",
    "claim-once": "tcw.cli.claim_once:claim_once",
    "inspect-runs": "tcw.cli.inspect_runs:inspect_runs",
    "validate-payload": "tcw.cli.validate_payload:validate_payload",
    "schemas": "tcw.cli.schemas:schemas",
    "queue": "tcw.cli.queue:queue",
    "task": "tcw.cli.task:task",
    "cache": "tcw.cli.cache:cache",
    "secret": "tcw.cli.secret:secret",
    "status": "tcw.cli.status:status",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def __init__(self, *args: Any, lazy_subcommands: Mapping[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands:
            module_name, attribute = self.lazy_subcommands[cmd_name].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_subcommands[cmd_name]} is not a click command")
            return _accept_shared_options(command)
        return super().get_command(ctx, cmd_name)


class TcwGroup(LazyGroup):
    """The root group: turns our errors into one-line messages and documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TcwError as error:
            if _debug(ctx):
                raise
            for line in error.message.splitlines() or [type(error).__name__]:
                click.echo(f"Error: {line}", err=True)
            ctx.exit(int(error.exit_code))
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            _silence_stdout()
            ctx.exit(int(ExitCode.OUTPUT_CLOSED))
        except Exception as error:
            if _debug(ctx):
                raise
            click.echo(
                f"Error: internal error: {type(error).__name__}: {error} (rerun with --debug)", err=True
            )
            ctx.exit(int(ExitCode.FAILED))


def _silence_stdout() -> None:
    """The reader of our output went away (``tcw ... | head``): point stdout at /dev/null so the flush at
    exit does not fail again, and end quietly, as a process killed by SIGPIPE would."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _debug(ctx: click.Context) -> bool:
    state = ctx.find_object(CliState)
    return bool(state and state.root_flags.get("debug"))


@dataclass
class CliState:
    """What the shared options parsed, wherever they stood; subcommands turn it into a Config with their
    own flags on top."""

    config_file: Path | None = None
    root_flags: dict[str, Any] = field(default_factory=dict)
    verbose: int = 0
    quiet: int = 0

    def load(self, **flags: Any) -> Config:
        """The config with this invocation's flags (dotted keys) applied over every other layer."""
        from tcw.logs import configure_logging

        verbosity = (self.verbose - self.quiet) or None
        shared = {**self.root_flags, "verbosity": verbosity}
        config = load_config(self.config_file, flags={**shared, **flags})
        configure_logging(config.verbosity, config.log_format, config.debug)
        return config


def pass_state(ctx: click.Context) -> CliState:
    state = ctx.find_object(CliState)
    if state is None:  # a subcommand invoked without the root group, e.g. from a test
        state = CliState(config_file=None)
    return state


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Store a shared option in the invocation's CliState; given twice, the later one wins
    (``tcw --root-url A run --root-url B`` uses B) and -v/-q counts add up."""
    state = ctx.ensure_object(CliState)
    if ctx.get_parameter_source(str(param.name)) in (None, ParameterSource.DEFAULT):
        return  # not given here: it must not undo what was given on the other side of the command name
    if param.name in ("verbose", "quiet"):
        setattr(state, param.name, getattr(state, param.name) + value)
    elif param.name == "config_file":
        state.config_file = value
    else:
        state.root_flags[str(param.name)] = value


def shared_options(*, envvar: bool) -> list[click.Option]:
    """The options every command takes, before or after its name (``tcw run --config f.yml``). Only the
    root reads TCW_CONFIG, so an explicit ``tcw --config a run`` is not overridden by the environment."""
    common: dict[str, Any] = {"expose_value": False, "callback": _remember}
    return [
        click.Option(["--root-url"], help="Taskcluster root URL (default: $TASKCLUSTER_ROOT_URL).", **common),
        click.Option(
            ["--config", "config_file"],
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="TCW_CONFIG" if envvar else None,
            help="YAML config file (default: $TCW_CONFIG).",
            **common,
        ),
        click.Option(["-v", "--verbose"], count=True, help="More log output; repeatable.", **common),
        click.Option(["-q", "--quiet"], count=True, help="Less log output; repeatable.", **common),
        click.Option(
            ["--log-format"],
            type=click.Choice(["text", "json"]),
            default=None,
            help="Log line format.",
            **common,
        ),
        click.Option(
            ["--debug"],
            is_flag=True,
            default=None,
            help="Debug logs and full tracebacks on errors.",
            **common,
        ),
    ]


def _accept_shared_options(command: click.Command) -> click.Command:
    """Give a subcommand (and, for a group, each of its subcommands) the shared options, once."""
    if not getattr(command, "_tcw_shared_options", False):
        command.params.extend(shared_options(envvar=False))
        command._tcw_shared_options = True  # type: ignore[attr-defined]
        if isinstance(command, click.Group):
            for sub in command.commands.values():
                _accept_shared_options(sub)
    return command


@click.group(
    cls=TcwGroup,
    lazy_subcommands=SUBCOMMANDS,
    params=shared_options(envvar=True),
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="tcw")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run, debug and inspect Taskcluster workers.

    \b
    Exit codes:
      0  success
      1  a task failed, a payload is invalid, a worker is flagged, or tcw status found no worker
      2  usage or configuration error
      3  a task resolved as exception
      4  claim-once found nothing to claim
      5  Taskcluster could not be reached or refused a call
      141  the reader of the output went away (tcw ... | head)

    The options above are accepted after the command too (tcw run --config f.yml).
    """
    ctx.ensure_object(CliState)


def main() -> None:
    """Console-script entry point."""
    try:
        cli(prog_name="tcw")  # standalone mode: it always ends in SystemExit
    except SystemExit as done:
        exit_without_teardown(done.code)
        raise


def exit_without_teardown(code: int | str | None) -> None:
    """End the process as normal exit does, less the interpreter's teardown: freeing a worker's hundreds of
    modules object by object costs 30-60 ms of CPU, paid by every tcw command. The exit handlers still run
    (log handlers flushed, weakref finalizers, coverage saved) and the standard streams are flushed. Returns
    (for a normal exit) while any other non-daemon thread is alive, since a normal exit waits for it."""
    import atexit
    import threading

    others = (thread for thread in threading.enumerate() if thread is not threading.main_thread())
    if any(thread.is_alive() and not thread.daemon for thread in others):
        return
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone, or the stream closed
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    main()
    sys.exit(0)
