"""The root command: shared options, one-line errors with documented exit codes, lazy imports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from tcw.cli.main import SUBCOMMANDS
from tcw.errors import ExitCode
from tests.fixtures.cli import REPO_ROOT, RunCli
from tests.inspect.builders import StatusFactory, healthy_pool


def test_help_lists_every_command(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "--help"])
    assert SUBCOMMANDS
    for command in SUBCOMMANDS:
        assert f"\n  {command} " in result.stdout
    assert "Exit codes" in result.stdout


def test_help_does_not_import_the_server_or_the_client() -> None:
    probe = (
        "import sys; from tcw.cli.main import cli\n"
        "try:\n    cli(['--help'], prog_name='tcw')\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules\n"
        "               if m.split('.')[0] in ('aiohttp', 'taskcluster', 'jsonschema'))\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert "HEAVY []" in out.stdout


def test_config_problems_exit_2_with_one_line_each(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("worker:\n  capacity: many\n  nope: 1\n", encoding="utf-8")
    result = run_cli(["tcw", "--config", str(config), "task", "status", "x"], exit_code=2)
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(lines) == 2, result.stderr
    assert "Traceback" not in result.stderr


def test_version(run_cli: RunCli) -> None:
    from tcw import __version__

    assert __version__ in run_cli(["tcw", "--version"]).stdout


def test_unknown_command_is_a_usage_error(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "fly"], exit_code=2)
    assert "No such command" in result.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path: Path) -> None:
    # inspect-runs writes its CSV straight to stdout: one row per run, far past a pipe's buffer.
    saved = tmp_path / "runs.json"
    statuses = healthy_pool(StatusFactory(), workers=1, each=3000)
    saved.write_text(json.dumps({"version": 1, "rootUrl": None, "statuses": statuses, "workers": []}))
    command = f"{sys.executable} -m tcw inspect-runs --from-file {saved} --worker dc1/w0 --format csv"
    pipeline = f"{command} | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", pipeline], check=False, capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert done.stdout.strip() == str(int(ExitCode.OUTPUT_CLOSED))
    assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_quiet_also_quiets_the_clients_retry_warnings() -> None:
    from tcw.logs import configure_logging

    configure_logging(verbosity=-2)
    assert not logging.getLogger("taskcluster").isEnabledFor(logging.WARNING)
    configure_logging(verbosity=0)
    assert logging.getLogger("taskcluster").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("taskcluster").isEnabledFor(logging.INFO)
