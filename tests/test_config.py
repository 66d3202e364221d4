"""Config precedence and problem reporting (flags > env > file > defaults; all problems at once)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcw.config import ID_RULE, Config, load_config
from tcw.errors import ConfigError, ExitCode
from tests.support.config_files import alias_bomb


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tcw.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_file_and_no_environment() -> None:
    config = load_config(environ={})
    assert config == Config()
    assert config.worker.capacity == 1
    assert config.worker.task_queue_id is None


def test_precedence_flags_over_environment_over_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "root_url: https://file.example.com\nworker:\n  capacity: 2\n  worker_group: from-file\n",
    )
    environ = {"TCW_WORKER_CAPACITY": "3", "TASKCLUSTER_ROOT_URL": "https://env.example.com/"}
    config = load_config(path, environ=environ, flags={"worker.capacity": 4, "worker.worker_id": None})
    assert config.worker.capacity == 4  # flag wins
    assert config.root_url == "https://env.example.com"  # env over file, trailing slash stripped
    assert config.worker.worker_group == "from-file"  # file over default
    assert config.worker.worker_id is None  # a flag left unset does not erase anything


def test_taskcluster_credentials_come_from_the_official_variables() -> None:
    environ = {
        "TASKCLUSTER_ROOT_URL": "https://tc.example.com",
        "TASKCLUSTER_CLIENT_ID": "me",
        "TASKCLUSTER_ACCESS_TOKEN": "secret-token",
    }
    config = load_config(environ=environ)
    assert config.client_options() == {
        "rootUrl": "https://tc.example.com",
        "credentials": {"clientId": "me", "accessToken": "secret-token"},
    }
    assert "secret-token" not in repr(config)


def test_every_problem_is_reported_at_once_with_its_place(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "worker:\n  capacity: lots\n  worker_group: has.dots\n  colour: blue\nlog_format: xml\nbogus: 1\n",
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"TCW_WORKER_SHUTDOWN_GRACE": "soon"})
    problems = caught.value.problems
    assert f"{path}: worker.capacity: expected an integer, got 'lots'" in problems
    assert any(p.startswith(f"{path}: worker.colour: unknown key") for p in problems)
    assert any(p.startswith(f"{path}: bogus: unknown key") for p in problems)
    assert f"{path}: log_format: expected one of text, json, got 'xml'" in problems
    assert "environment TCW_WORKER_SHUTDOWN_GRACE: expected a number, got 'soon'" in problems
    assert f"{path}: worker.worker_group: {ID_RULE}, got 'has.dots'" in problems
    assert caught.value.exit_code == ExitCode.USAGE


def test_unknown_key_suggests_the_nearest(tmp_path: Path) -> None:
    path = write(tmp_path, "worker:\n  capacty: 2\n")
    with pytest.raises(ConfigError, match=r"did you mean worker\.capacity\?"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n- b\n", "the config file must hold a mapping"),
        ("worker: [1\n", "not valid YAML"),
        ("worker: 3\n", "worker: expected a mapping of settings"),
        ("worker:\n  worker_type: Linux_Big\n", r"worker.worker_type: must be .*, got 'Linux_Big'"),
        ('worker:\n  worker_id: "w1\\n"\n', r"worker.worker_id: must be 1 to 38 letters"),
        ("worker:\n  capacity: 0\n", "worker.capacity: must be at least 1, got 0"),
        ("root_url: https://tc.example.com/api\n", "is not a root URL"),
        ("worker:\n  executors: {linux: 3}\n", "expected a mapping of strings to strings"),
    ],
)
def test_file_problems(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(write(tmp_path, text), environ={})


def test_missing_config_file_is_a_problem_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "absent.yaml", environ={})


def test_environment_booleans_and_lists() -> None:
    config = load_config(
        environ={"TCW_WORKER_KEEP_WORKDIR": "yes", "TCW_REGISTRY_DIRECTORIES": "[/a, '/b c']"},
    )
    assert config.worker.keep_workdir is True
    assert config.registry.directories == ("/a", "/b c")
    with pytest.raises(ConfigError, match="expected true or false"):
        load_config(environ={"TCW_WORKER_KEEP_WORKDIR": "maybe"})


def test_config_is_frozen() -> None:
    config = load_config(environ={})
    with pytest.raises(AttributeError):
        config.worker.capacity = 5  # type: ignore[misc]


def test_client_options_without_root_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="root_url: not set"):
        load_config(environ={}).client_options()


def test_each_rule_breach_names_where_the_value_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, "worker:\n  provisioner_id: bad.id\n")
    with pytest.raises(ConfigError) as caught:
        load_config(
            path,
            environ={"TCW_WORKER_WORKER_ID": "also.bad"},
            flags={"worker.capacity": 0},
        )
    problems = "\n".join(caught.value.problems)
    assert f"{path}: worker.provisioner_id: {ID_RULE}, got 'bad.id'" in problems
    assert f"environment TCW_WORKER_WORKER_ID: {ID_RULE}, got 'also.bad'" in problems
    assert "command line: worker.capacity: must be at least 1, got 0" in problems


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"TCW_QUEUE_CLAIM_WORK_WAIT": "nan"}, "TCW_QUEUE_CLAIM_WORK_WAIT: must be a number of seconds"),
        ({"TCW_QUEUE_CLAIM_TIMEOUT": "-5"}, "TCW_QUEUE_CLAIM_TIMEOUT: must be a number of seconds above 0"),
        ({"TCW_QUEUE_RESOLVER_INTERVAL": "0"}, "TCW_QUEUE_RESOLVER_INTERVAL: must be a number of seconds"),
        ({"TCW_WORKER_SHUTDOWN_GRACE": "inf"}, "TCW_WORKER_SHUTDOWN_GRACE: must be a number of seconds"),
    ],
)
def test_timings_must_be_finite_and_in_range(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config(environ=environ)


def test_a_misspelt_setting_in_the_environment_is_reported_not_ignored() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TCW_WORKER_CAPACTY": "3", "TCW_CONFIG": "x", "TCW_OTHER_TOOL": "y"})
    assert caught.value.problems == (
        "environment TCW_WORKER_CAPACTY: unknown setting (did you mean TCW_WORKER_CAPACITY?)",
    )


def test_environment_lists_and_maps_share_the_yaml_flow_syntax() -> None:
    config = load_config(
        environ={
            "TCW_REGISTRY_DIRECTORIES": '["/etc/tcw/schemas", /srv/schemas]',
            "TCW_REGISTRY_SCHEMA_URLS": '{"proj/*": shell, proj/build: /schemas/build.json}',
            "TCW_WORKER_EXECUTORS": '{"proj/*": "examples.handler:greet"}',
        }
    )
    assert config.registry.directories == ("/etc/tcw/schemas", "/srv/schemas")
    assert dict(config.registry.schema_urls) == {"proj/*": "shell", "proj/build": "/schemas/build.json"}
    assert dict(config.worker.executors) == {"proj/*": "examples.handler:greet"}
    # A bare value is a list of one, and is never split: a colon is part of the path.
    bare = load_config(environ={"TCW_REGISTRY_DIRECTORIES": "/etc/tcw:schemas"})
    assert bare.registry.directories == ("/etc/tcw:schemas",)


@pytest.mark.parametrize(
    "name", ["TCW_WORKER_EXECUTORS", "TCW_REGISTRY_SCHEMA_URLS", "TCW_REGISTRY_DIRECTORIES"]
)
def test_invalid_yaml_in_a_list_or_map_variable_is_one_problem(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={name: "[{a: ["})
    (problem,) = caught.value.problems
    assert problem.startswith(f"environment {name}: not valid YAML: ")
    assert "\n" not in problem


def test_a_config_file_that_is_not_utf8_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("worker:\n  worker_group: caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == (f"{path}: config file is not UTF-8 text (byte 0xe9 at offset 27)",)


@pytest.mark.parametrize(
    "root_url",
    [
        "http://[::1",
        "http://127.0.0.1:99999",
        "http://host:port",
        "ftp://tc.example.com",
        "http://a b",
        "http://",
    ],
)
def test_root_urls_that_cannot_be_called_are_refused(root_url: str) -> None:
    with pytest.raises(ConfigError, match=r"is not a root URL like https://tc\.example\.com"):
        load_config(environ={"TASKCLUSTER_ROOT_URL": root_url})


def test_root_urls_with_a_port_or_an_ipv6_host_are_fine() -> None:
    for root_url in ("http://127.0.0.1:8731", "http://[::1]:8731/", "https://tc.example.com"):
        assert load_config(environ={"TASKCLUSTER_ROOT_URL": root_url}).root_url == root_url.rstrip("/")


def test_a_client_id_with_a_newline_is_refused_before_any_call() -> None:
    with pytest.raises(ConfigError, match="environment TASKCLUSTER_CLIENT_ID: must be letters"):
        load_config(environ={"TASKCLUSTER_CLIENT_ID": "me\nX-Injected: 1", "TASKCLUSTER_ACCESS_TOKEN": "t"})


def test_a_garbage_certificate_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TASKCLUSTER_CERTIFICATE": "garbage-secret"})
    assert caught.value.problems == (
        "environment TASKCLUSTER_CERTIFICATE: must be the JSON certificate of temporary credentials",
    )


def test_an_alias_bomb_gives_bounded_messages(tmp_path: Path) -> None:
    path = write(tmp_path, alias_bomb())
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"TCW_WORKER_EXECUTORS": "{x: " + "[" * 20 + "]" * 20 + "}"})
    assert all(len(problem) < 400 for problem in caught.value.problems), caught.value.problems
    assert any("worker.capacity: expected an integer, got [[[" in p for p in caught.value.problems)


def test_the_tcw_names_of_the_official_variables_are_reported_not_read() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ={"TCW_ROOT_URL": "https://tc.example.com", "TCW_CREDENTIALS_ACCESS_TOKEN": "t"})
    assert caught.value.problems == (
        "environment TCW_CREDENTIALS_ACCESS_TOKEN: not read; tcw reads TASKCLUSTER_ACCESS_TOKEN",
        "environment TCW_ROOT_URL: not read; tcw reads TASKCLUSTER_ROOT_URL",
    )
