"""Issue 10, items 3 and 5: the worker's credentials, the task user as the wall, and root."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import taskcluster
import yaml

from tcw import tasks
from tcw.config import load_config
from tcw.errors import ConfigError, UsageError
from tests.support.cli import tcw_process
from tests.support.localqueue import MakeLocalQueue, from_now
from tests.support.tasks import TASK_QUEUE, create_task, last_run, shell, task_definition
from tests.support.worker import SHELL_SCHEMA, MakeConfig, run_worker
from tests.worker_hardening.conftest import MakeHostDir, MakeUser, artifact, needs_root


def run_tcw(config: Path, *args: str) -> str:
    worker = tcw_process(["--config", str(config), "run", "--max-tasks", "1", *args], stderr=subprocess.PIPE)
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()
    return stderr.decode()


def test_a_task_user_cannot_read_the_config_the_credentials_or_other_runs_logs(
    local_queue: Any, queue: Any, make_user: MakeUser, host_dir: MakeHostDir
) -> None:
    user = make_user("task")
    host = host_dir(0o711)  # as /etc or /srv: others may traverse it
    work = host / "work"
    config = host / "worker.yml"
    creds = local_queue.root_credentials
    document = {
        "root_url": local_queue.root_url,
        "credentials": {"client_id": creds["clientId"], "access_token": creds["accessToken"]},
        "registry": {"schema_urls": SHELL_SCHEMA},
        "worker": {
            "provisioner_id": TASK_QUEUE.split("/")[0],
            "worker_type": TASK_QUEUE.split("/")[1],
            "task_user": user.pw_name,
            "work_root": str(work),
            "allow_root_tasks": False,
        },
    }
    config.write_text(yaml.safe_dump(document))
    config.chmod(0o600)

    first = create_task(queue, shell("echo secret-of-the-first-run"))
    stderr = run_tcw(config, "--keep-workdir")
    assert f"tasks run as {user.pw_name}" in stderr
    assert last_run(queue, first) == "completed"

    probe = (
        f"id -u > id.txt; echo $HOME > home.txt; touch $HOME/mine; "
        f"cat {config} > config.txt 2>&1; ls {work}/logs > logs.txt 2>&1; "
        f"cat {work}/logs/task_{first}_0.log >> logs.txt 2>&1; "
        f"{{ tr '\\0' '\\n' < /proc/$PPID/environ; }} > environ.txt 2>&1; true"
    )
    names = ("id", "home", "config", "logs", "environ")
    artifacts = [{"type": "file", "path": f"{name}.txt", "name": f"public/{name}.txt"} for name in names]
    second = create_task(queue, shell(probe, artifacts=artifacts))
    run_tcw(config)
    log = artifact(queue, second, "public/logs/live_backing.log").text
    assert last_run(queue, second) == "completed", log
    seen = {name: artifact(queue, second, f"public/{name}.txt").text for name in names}
    assert seen["id"].strip() == str(user.pw_uid)
    assert seen["home"].strip() == str(work / f"task_{second}_0")
    assert "Permission denied" in seen["config"] and creds["accessToken"] not in seen["config"]
    assert "Permission denied" in seen["logs"] and "secret-of-the-first-run" not in seen["logs"]
    assert creds["accessToken"] not in seen["environ"]


async def test_a_root_worker_refuses_to_run_tasks_as_root_by_default(
    local_queue: Any, worker_config: MakeConfig
) -> None:
    needs_root()
    with pytest.raises(UsageError, match="refusing to run tasks as root"):
        await run_worker(worker_config(local_queue, allow_root_tasks=False, max_tasks=1))


def test_a_root_task_reads_no_credentials_from_the_workers_environ(
    local_queue: Any, queue: Any, tmp_path: Path
) -> None:
    # A root task may read /proc/<worker>/environ despite non-dumpable: the kernel's copy must not hold them.
    needs_root()
    dump = tmp_path / "environ.txt"
    task_id = create_task(queue, shell(f"tr '\\0' '\\n' < /proc/$PPID/environ > {dump}"))
    creds = local_queue.root_credentials
    env = {
        "TASKCLUSTER_CLIENT_ID": creds["clientId"],
        "TASKCLUSTER_ACCESS_TOKEN": creds["accessToken"],
        "TCW_REGISTRY_SCHEMA_URLS": json.dumps(SHELL_SCHEMA),
    }
    args = ["--root-url", local_queue.root_url, "run", "--task-queue", TASK_QUEUE, "--max-tasks", "1"]
    worker = tcw_process([*args, "--work-root", str(tmp_path / "work")], env=env, stderr=subprocess.PIPE)
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr.decode()
    assert last_run(queue, task_id) == "completed"
    environment = dump.read_text()
    assert "PATH=" in environment  # it was read
    assert creds["accessToken"] not in environment and "TASKCLUSTER_ACCESS_TOKEN" not in environment


def test_a_config_file_with_credentials_that_others_can_read_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "worker.yml"
    config.write_text("credentials:\n  client_id: me\n  access_token: not-for-others\n")
    config.chmod(0o644)
    with pytest.raises(ConfigError, match="not private to this user"):
        load_config(config, environ={})
    config.chmod(0o600)
    assert load_config(config, environ={}).credentials.access_token == "not-for-others"


def test_credentials_come_from_a_private_credentials_file(tmp_path: Path) -> None:
    secrets = tmp_path / "credentials.yml"
    secrets.write_text("clientId: me\naccessToken: from-the-file\n")
    secrets.chmod(0o600)
    config = load_config(environ={}, flags={"credentials.file": str(secrets)})
    assert (config.credentials.client_id, config.credentials.access_token) == ("me", "from-the-file")
    overridden = load_config(
        environ={"TASKCLUSTER_ACCESS_TOKEN": "env"}, flags={"credentials.file": str(secrets)}
    )
    assert overridden.credentials.access_token == "env"
    secrets.chmod(0o640)
    with pytest.raises(ConfigError, match="not private to this user"):
        load_config(environ={}, flags={"credentials.file": str(secrets)})


async def test_a_task_running_as_the_task_user_may_use_its_proxy(
    make_local_queue: MakeLocalQueue, worker_config: MakeConfig, make_user: MakeUser, host_dir: MakeHostDir
) -> None:
    """The proxy admits only its run's users: with a task user that is the task user, not only the
    worker's own, or every proxied call of a production worker would be refused."""
    user = make_user("proxy")
    local = make_local_queue()
    taskcluster.Secrets(local.client_options()).set(
        "project/x", {"secret": {"name": "project/x"}, "expires": from_now(hours=1)}
    )
    queue = taskcluster.Queue(local.client_options())
    url = "$TASKCLUSTER_PROXY_URL/api/secrets/v1/secret/project/x"
    curl = f'test "$(curl -s -o /dev/null -w "%{{http_code}}" "{url}")" = 200'
    definition = task_definition(
        TASK_QUEUE, payload=shell(curl, features={"taskclusterProxy": True}), scopes=["secrets:get:project/x"]
    )
    task_id = tasks.create_task(queue, definition)
    config = worker_config(
        local,
        max_tasks=1,
        task_user=user.pw_name,
        allow_root_tasks=False,
        work_root=str(host_dir(0o711) / "w"),
    )
    await run_worker(config)
    assert last_run(queue, task_id) == "completed", artifact(
        queue, task_id, "public/logs/live_backing.log"
    ).text
