"""The root command: shared options, one-line errors with documented exit codes, lazy imports."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from tcw.cli.main import SUBCOMMANDS
from tcw.errors import ExitCode
from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli
from tests.support.paths import REPO_ROOT
from tests.support.statuses import StatusFactory, healthy_pool


def test_help_lists_every_command(run_cli: RunCli) -> None:
    result = run_cli(["tcw", "--help"])
    assert SUBCOMMANDS
    for command in SUBCOMMANDS:
        assert f"\n  {command} " in result.stdout
    assert "Exit codes" in result.stdout


def imported_after(code: str, packages: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> list[str]:
    """The modules of ``packages`` (or starting with one of ``prefixes``) a fresh Python has imported
    after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {packages!r}"
        f" or m.startswith({prefixes!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    imported: list[str] = json.loads(out.stdout.splitlines()[-1])
    return imported


def test_help_does_not_import_the_server_or_the_client() -> None:
    code = "from tcw.cli.main import cli\ntry:\n    cli(['--help'], prog_name='tcw')\n"
    code += "except SystemExit:\n    pass"
    assert imported_after(code, ("aiohttp", "taskcluster", "jsonschema")) == []


def test_the_worker_imports_only_what_every_run_uses() -> None:
    # What `tcw run` imports before its first claim; the metrics server, YAML and jsonschema come later,
    # when a port, a config file or an invalid payload asks for them (start-up CPU is paid per process).
    code = "import tcw.cli.run, tcw.engine.daemon, tcw.engine.payload, tcw.executors.loader"
    assert imported_after(code, ("prometheus_client", "jsonschema", "yaml"), ("aiohttp.web",)) == []


def test_the_fast_exit_keeps_exit_handlers_codes_output_and_threads(tmp_path: Path) -> None:
    # main() ends the process without the interpreter's teardown: what a normal exit does must still happen.
    probe = (
        "import atexit, sys, threading, time\n"
        "from tcw.cli.main import exit_without_teardown\n"
        "atexit.register(lambda: open(sys.argv[1], 'a').write('handler ran\\n'))\n"
        "sys.stdout.write('buffered, not flushed')\n"
        "if sys.argv[2] == 'thread':\n"
        "    late = lambda: (time.sleep(0.3), open(sys.argv[1], 'a').write('thread\\n'))\n"
        "    threading.Thread(target=late).start()\n"
        "exit_without_teardown(int(sys.argv[3]))\n"
        "sys.exit(int(sys.argv[3]) + 1)  # only reached when a normal exit must wait for the thread\n"
    )
    for mode, code, expected_code, expected_file in (
        ("alone", 3, 3, "handler ran\n"),
        ("thread", 0, 1, "thread\nhandler ran\n"),
    ):
        marker = tmp_path / f"{mode}.txt"
        done = subprocess.run(
            [sys.executable, "-c", probe, str(marker), mode, str(code)],
            check=False,
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
        )
        assert (done.returncode, done.stdout, marker.read_text()) == (
            expected_code,
            "buffered, not flushed",
            expected_file,
        )


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
    configure_logging(verbosity=0)  # the client's retry warnings only under -v (the error says it all)
    assert not logging.getLogger("taskcluster").isEnabledFor(logging.WARNING)
    assert logging.getLogger("taskcluster").isEnabledFor(logging.ERROR)
    configure_logging(verbosity=1)
    assert logging.getLogger("taskcluster").isEnabledFor(logging.WARNING)


def saved_runs(tmp_path: Path) -> Path:
    """Statuses saved for `inspect-runs --from-file`: a command that logs at debug level, with no queue."""
    saved = tmp_path / "runs.json"
    statuses = healthy_pool(StatusFactory(), workers=2, each=3)
    saved.write_text(json.dumps({"version": 1, "rootUrl": None, "statuses": statuses, "workers": []}))
    return saved


def test_config_and_root_url_work_after_the_subcommand(run_cli: RunCli, local_queue: LocalQueue) -> None:
    creds = local_queue.root_credentials
    assert creds is not None
    env = {"TASKCLUSTER_CLIENT_ID": creds["clientId"], "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"]}
    task_id = run_cli(
        ["tcw", "task", "create", "-", "--root-url", local_queue.root_url],
        input="taskQueueId: a/b\n",
        env=env,
    ).stdout.strip()
    status = run_cli(
        ["tcw", "task", "status", task_id, "--format", "json", "--root-url", local_queue.root_url], env=env
    )
    assert json.loads(status.stdout)["taskId"] == task_id


def test_config_after_the_subcommand_is_read(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "bad.yml"
    config.write_text("worker:\n  capacity: many\n", encoding="utf-8")
    for command in (
        ["tcw", "run", "--config", str(config)],
        ["tcw", "task", "status", "x", "--config", str(config)],
    ):
        result = run_cli(command, exit_code=2)
        assert result.stderr == f"Error: {config}: worker.capacity: expected an integer, got 'many'\n"
    # Given on both sides of the command name, the later one wins, as a repeated option does.
    good = tmp_path / "good.yml"
    good.write_text("root_url: 'http://[::1'\n", encoding="utf-8")
    result = run_cli(
        ["tcw", "--config", str(config), "task", "--config", str(good), "status", "x"], exit_code=2
    )
    assert "root_url: is not a root URL" in result.stderr and "capacity" not in result.stderr


def test_verbosity_and_log_format_work_after_the_subcommand(run_cli: RunCli, tmp_path: Path) -> None:
    command = ["tcw", "inspect-runs", "--from-file", str(saved_runs(tmp_path)), "--format", "json"]
    assert "analysed" not in run_cli(command).stderr
    debug_lines = run_cli([*command, "-v", "--log-format", "json"]).stderr.splitlines()
    records = [json.loads(line) for line in debug_lines]
    assert any(r["level"] == "debug" and r["message"].startswith("analysed") for r in records)
    # -v before and -q after add up to the default level again.
    assert "analysed" not in run_cli(["tcw", "-v", *command[1:], "-q"]).stderr


def test_debug_after_the_subcommand_shows_the_traceback(run_cli: RunCli) -> None:
    from click.testing import CliRunner

    from tcw.cli.main import cli
    from tcw.errors import ConfigError

    plain = run_cli(["tcw", "task", "status", "x", "--root-url", "http://[::1"], exit_code=2)
    assert plain.stderr.startswith("Error: command line: root_url:")
    debug = CliRunner().invoke(cli, ["task", "status", "x", "--root-url", "http://[::1", "--debug"])
    assert isinstance(debug.exception, ConfigError)  # re-raised for its traceback, not turned into a line


def test_a_misspelt_or_invalid_shared_option_after_the_subcommand_exits_2(run_cli: RunCli) -> None:
    misspelt = run_cli(["tcw", "run", "--confg", "x.yml"], exit_code=2)
    assert "Error: No such option '--confg'. Did you mean '--config'?" in misspelt.stderr
    invalid = run_cli(["tcw", "task", "status", "x", "--log-format", "xml"], exit_code=2)
    errors = [line for line in invalid.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: Invalid value for '--log-format': 'xml' is not one of 'text', 'json'."]
