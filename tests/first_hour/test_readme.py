"""The README's commands and `make demo`'s closing commands, pasted in order, all succeed.

The README's shell blocks run exactly as written, in one bash session at the repository root: its own
`tcw queue serve &` starts the queue, with the state directory and port moved out of everyone else's way
(XDG_STATE_HOME, TCW_QUEUE_PORT). The demo's closing commands run exactly as printed, its queue served
again by a real `tcw queue serve`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import unused_port

REPO = Path(__file__).resolve().parents[2]
VENV_ACTIVATE = REPO / ".venv" / "bin" / "activate"


def readme_commands() -> list[str]:
    """Every line of every ```sh block of the README, in order, but `make` (run by the suite itself)."""
    blocks = re.findall(r"^```sh\n(.*?)^```", (REPO / "README.md").read_text(), flags=re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines() if line.strip()]
    return [line for line in lines if not line.startswith("make ")]


def run_bash(lines: list[str], env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    """The lines in one bash session (stopping at the first failure); its background jobs (a queue
    served) are stopped at the end, and the whole session is killed if it overruns ``timeout``."""
    script = "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n"
    script += "\n".join(f"echo '+ '{_quote(line)}\n{line}" for line in lines)
    session = subprocess.Popen(
        ["bash", "-c", script],
        cwd=REPO,
        env=env,
        text=True,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = session.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(session.pid, signal.SIGKILL)
        out, err = session.communicate()
    return subprocess.CompletedProcess(session.args, session.returncode, out, err)


def _quote(line: str) -> str:
    return "'" + line.replace("'", "'\\''") + "'"


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TASKCLUSTER_", "TCW_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **extra}


needs_venv = pytest.mark.skipif(not VENV_ACTIVATE.exists(), reason="the README's commands activate .venv")


@needs_venv
def test_the_readme_commands_pasted_in_order_succeed(tmp_path: Path) -> None:
    commands = readme_commands()
    assert not any("TCW_REGISTRY_SCHEMA_URLS" in line for line in commands)  # zero config
    assert any(line.startswith("tcw queue serve") for line in commands)
    env = clean_env({"XDG_STATE_HOME": str(tmp_path / "state"), "TCW_QUEUE_PORT": str(unused_port())})
    ran = run_bash(commands, env)
    assert ran.returncode == 0, f"--- stdout\n{ran.stdout}\n--- stderr\n{ran.stderr}"
    assert "hello, you" in ran.stdout
    assert re.search(r"^running task [A-Za-z0-9_-]{22}$", ran.stdout, flags=re.M)  # $TASK_ID expanded


@needs_venv
def test_the_demo_ends_with_commands_that_work_as_printed(tmp_path: Path) -> None:
    port = unused_port()
    # The demo as `make demo` runs it, its state and its queue's port moved out of the way of others'.
    run_demo = (
        f"import pathlib, demo; demo.STATE = pathlib.Path({str(tmp_path / 'demo')!r}); "
        f"demo.SERVE_PORT = {port}; raise SystemExit(demo.main())"
    )
    shown = subprocess.run(
        [sys.executable, "-c", run_demo],
        cwd=REPO / "examples",
        env=clean_env({}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stdout + shown.stderr
    printed = shown.stdout.split("paste at the repository root:\n", 1)[1]
    lines = [line.strip() for line in printed.splitlines() if line.strip()]
    assert lines[0] == ". .venv/bin/activate" and any("TASKCLUSTER_ACCESS_TOKEN=" in line for line in lines)
    ran = run_bash(lines, clean_env({}))
    assert ran.returncode == 0, f"--- stdout\n{ran.stdout}\n--- stderr\n{ran.stderr}"
    assert "about to fail" in ran.stdout and "public/report.txt" in ran.stdout and "report for " in ran.stdout
