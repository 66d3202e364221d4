"""Garbage a user can feed the CLI's config and inputs: each is one `Error:` line and exit 2, never an
internal error, and the output stays bounded however the input expands."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import CliResult, RunCli
from tests.support.config_files import alias_bomb

LATIN_1 = "worker:\n  worker_group: caf\u00e9\n".encode("latin-1")


def one_error(result: CliResult) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "internal error" not in lines[0]
    return lines[0]


def test_a_config_file_that_is_not_utf8(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "tcw.yml"
    config.write_bytes(LATIN_1)
    result = run_cli(["tcw", "--config", str(config), "task", "status", "x"], exit_code=2)
    assert one_error(result) == f"Error: {config}: config file is not UTF-8 text (byte 0xe9 at offset 27)"


def test_a_clients_file_that_is_not_utf8(run_cli: RunCli, tmp_path: Path) -> None:
    clients = tmp_path / "clients.yml"
    clients.write_bytes(b"- clientId: caf\xe9\n")
    command = ["tcw", "queue", "serve", "--port", "0", "--db", ":memory:", "--clients", str(clients)]
    assert "clients file is not UTF-8 text" in one_error(run_cli(command, exit_code=2))


@pytest.mark.parametrize("name", ["TCW_WORKER_EXECUTORS", "TCW_REGISTRY_SCHEMA_URLS"])
def test_invalid_yaml_in_a_mapping_variable(run_cli: RunCli, name: str) -> None:
    result = run_cli(["tcw", "task", "status", "x"], env={name: '{"proj/*": shell'}, exit_code=2)
    assert one_error(result).startswith(f"Error: environment {name}: not valid YAML: ")


@pytest.mark.parametrize("root_url", ["http://[::1", "http://127.0.0.1:99999"])
def test_a_root_url_that_cannot_be_called(run_cli: RunCli, root_url: str) -> None:
    result = run_cli(["tcw", "task", "status", "x", "--root-url", root_url], exit_code=2)
    assert "is not a root URL" in one_error(result)


def test_a_newline_in_the_client_id(run_cli: RunCli) -> None:
    env = {
        "TASKCLUSTER_ROOT_URL": "http://127.0.0.1:9",
        "TASKCLUSTER_CLIENT_ID": "me\nX-Injected: 1",
        "TASKCLUSTER_ACCESS_TOKEN": "token",
    }
    result = run_cli(["tcw", "task", "status", "x"], env=env, exit_code=2)
    assert one_error(result).startswith("Error: environment TASKCLUSTER_CLIENT_ID: must be")


def test_a_yaml_alias_bomb_in_the_config_file(run_cli: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "bomb.yml"
    config.write_text(alias_bomb(), encoding="utf-8")
    result = run_cli(["tcw", "--config", str(config), "task", "status", "x"], exit_code=2)
    assert len(result.stderr) < 3000, f"{len(result.stderr)} bytes of error"
    assert "worker.capacity: expected an integer, got [[[" in result.stderr


def test_a_yaml_alias_bomb_in_the_clients_file(run_cli: RunCli, tmp_path: Path) -> None:
    anchors = ['- &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    anchors += [f"- &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
    clients = tmp_path / "clients.yml"
    clients.write_text("\n".join(anchors) + "\n- {clientId: *a8, accessToken: t, scopes: []}\n", "utf-8")
    command = ["tcw", "queue", "serve", "--port", "0", "--db", ":memory:", "--clients", str(clients)]
    result = run_cli(command, exit_code=2)
    assert len(result.stderr) < 3000, f"{len(result.stderr)} bytes of error"
    assert "clients[9]: clientId [[[" in result.stderr
