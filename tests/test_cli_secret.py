"""`tcw secret set/get` against the local deployment's secrets service, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import taskcluster

from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli, env_for


def test_set_from_a_file_and_from_stdin_then_get(
    run_cli: RunCli, local_queue: LocalQueue, tmp_path: Path
) -> None:
    env = env_for(local_queue)
    source = tmp_path / "secret.json"
    source.write_text('{"token": "abc"}')
    run_cli(["tcw", "secret", "set", "project/x", str(source), "--expires", "2099-01-31T12:00:00Z"], env=env)
    stored = taskcluster.Secrets(local_queue.client_options()).get("project/x")
    assert stored == {"secret": {"token": "abc"}, "expires": "2099-01-31T12:00:00.000Z"}
    run_cli(["tcw", "secret", "set", "project/x", "-"], input='{"token": "new"}', env=env)
    result = run_cli(["tcw", "secret", "get", "project/x"], env=env)
    assert json.loads(result.stdout) == {"token": "new"}


def test_bad_input_and_missing_secrets_are_one_line_errors(run_cli: RunCli, local_queue: LocalQueue) -> None:
    env = env_for(local_queue)
    for document in ("[1, 2]", "not json"):
        failed = run_cli(["tcw", "secret", "set", "x", "-"], input=document, env=env, exit_code=2)
        assert failed.stderr.startswith("Error: <stdin>: ") and len(failed.stderr.splitlines()) == 1
    failed = run_cli(
        ["tcw", "secret", "set", "x", "-", "--expires", "soon"], input="{}", env=env, exit_code=2
    )
    assert "--expires" in failed.stderr
    missing = run_cli(["tcw", "secret", "get", "nope"], env=env, exit_code=2)
    assert missing.stderr.startswith("Error: cannot get secret nope: 404 Secret not found")
