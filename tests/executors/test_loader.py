"""Choosing and loading executors: built-in, module:function, entry points, per-queue globs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tcw.config import WorkerSettings
from tcw.engine.executor_choice import choose_executor
from tcw.errors import ConfigError, UsageError
from tcw.executors.api import TaskFailed
from tcw.executors.loader import known_executor_names, resolve_executor
from tcw.executors.shell import ShellExecutor
from tcw.registry import builtin_schema
from tests.support.task_runs import MakeRun

HANDLERS = "tests.executors.handlers"


def test_shell_is_built_in() -> None:
    assert isinstance(resolve_executor("shell"), ShellExecutor)
    assert isinstance(resolve_executor(" shell "), ShellExecutor)


def test_an_instance_with_an_async_call_is_used_as_it_is() -> None:
    from tcw.executors.shell import shell

    assert resolve_executor("tcw.executors.shell:shell") is shell


async def test_async_handler_by_module_and_function(make_run: MakeRun) -> None:
    run = make_run({"text": "signed"})

    await resolve_executor(f"{HANDLERS}:async_handler")(run.ctx)

    assert run.publisher.uploads["public/async.txt"].data == b"signed"


async def test_sync_handler_runs_in_a_thread(make_run: MakeRun) -> None:
    run = make_run({})

    await resolve_executor(f"{HANDLERS}:sync_handler")(run.ctx)

    assert (run.work_dir / "thread.txt").read_text() != threading.current_thread().name
    assert run.log_lines()[-1].endswith("sync handler ran")


async def test_handler_exceptions_reach_the_engine(make_run: MakeRun) -> None:
    run = make_run({})

    with pytest.raises(TaskFailed, match="nothing to do for task-id-00000000000001"):
        await resolve_executor(f"{HANDLERS}:failing_handler")(run.ctx)


async def test_dotted_attribute_path(make_run: MakeRun) -> None:
    run = make_run({})

    await resolve_executor(f"{HANDLERS}:Namespace.handler")(run.ctx)

    assert run.log_lines()[-1].endswith("namespaced handler ran")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty name"),
        ("no_such_module_xyz:handler", "no module named 'no_such_module_xyz'"),
        ("tests.executors.no_such_module:handler", "no module named 'tests.executors.no_such_module'"),
        (f"{HANDLERS}:missing", "has no attribute 'missing'"),
        (f"{HANDLERS}:Namespace.missing", "has no attribute 'Namespace.missing'"),
        (f"{HANDLERS}:NOT_CALLABLE", "int object is not callable"),
        (f"{HANDLERS}:Namespace", "Namespace is a class"),
        (f"{HANDLERS}:", "expected module:function"),
        (":handler", "expected module:function"),
        ("no-such-executor", "unknown; known executors: .*shell"),
    ],
)
def test_bad_specs_are_usage_errors(spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_executor(spec)


def test_a_module_that_fails_to_import_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_handlers_mod.py").write_text("import not_installed_dependency_xyz\n")
    (tmp_path / "raising_handlers_mod.py").write_text("raise RuntimeError('bad config at import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(
        UsageError, match="importing broken_handlers_mod failed: No module named 'not_installed"
    ):
        resolve_executor("broken_handlers_mod:f")
    with pytest.raises(UsageError, match="RuntimeError: bad config at import"):
        resolve_executor("raising_handlers_mod:f")


def install_entry_points(site: Path, lines: str) -> None:
    """A minimal installed distribution: what pip leaves behind, as far as importlib.metadata cares."""
    dist_info = site / "tcw_test_handlers-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: tcw-test-handlers\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[tcw.executors]\n{lines}")


async def test_handler_by_entry_point(
    make_run: MakeRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_entry_points(tmp_path, f"test-signer = {HANDLERS}:async_handler\nbroken = {HANDLERS}:missing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    run = make_run({"text": "via entry point"})

    await resolve_executor("test-signer")(run.ctx)

    assert run.publisher.uploads["public/async.txt"].data == b"via entry point"
    assert {"shell", "test-signer", "broken"} <= set(known_executor_names())
    with pytest.raises(UsageError, match=r"entry point .*:missing cannot be loaded"):
        resolve_executor("broken")


PER_QUEUE = {
    "proj-*/*": "generic",
    "proj-*/linux-*": "linux",
    "proj-release/linux-*": "release-linux",
    "proj-release/linux-signing": "signer:sign",
}


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("proj-release/linux-signing", "signer:sign"),
        ("proj-release/linux-large", "release-linux"),
        ("proj-ci/linux-large", "linux"),
        ("proj-ci/win-large", "generic"),
        ("other/linux-large", "shell"),
    ],
)
def test_worker_executors_picks_the_most_specific_match(queue: str, expected: str) -> None:
    assert choose_executor(queue, WorkerSettings(executors=PER_QUEUE), None).spec == expected


def test_equally_specific_matches_are_a_config_error() -> None:
    settings = WorkerSettings(executors={"a-*/x": "one", "*-b/x": "two"})
    with pytest.raises(ConfigError, match=r"matches \*-b/x and a-\*/x equally"):
        choose_executor("a-b/x", settings, None)


def test_the_registry_entry_s_executor_comes_between_worker_executors_and_worker_executor() -> None:
    entry = builtin_schema("shell").under_key("proj-*/*", "test", executor="from-registry")
    settings = WorkerSettings(executor="from-worker-executor", executors={"proj-release/*": "per-queue"})
    assert choose_executor("proj-release/x", settings, entry).spec == "per-queue"
    chosen = choose_executor("proj-ci/x", settings, entry)
    assert chosen.spec == "from-registry" and "proj-*/*" in chosen.origin
    assert choose_executor("proj-ci/x", settings, None).spec == "from-worker-executor"
    shell_entry = builtin_schema("shell").under_key("proj-*/*", "test")  # the built-in schema's own
    assert choose_executor("proj-ci/x", settings, shell_entry).spec == "shell"


async def test_the_documented_example_runs(
    make_run: MakeRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import textwrap

    import tcw.executors.loader

    doc = tcw.executors.loader.__doc__ or ""
    example = doc.split("# mysigner.py\n", 1)[1].split("\n\nand run", 1)[0]
    (tmp_path / "mysigner.py").write_text(textwrap.dedent(example))
    monkeypatch.syspath_prepend(str(tmp_path))
    run = make_run({"file": "app.apk"})

    await resolve_executor("mysigner:sign")(run.ctx)

    assert run.publisher.uploads["public/signed.bin"].data == b"..."
    assert run.log_lines()[-1].endswith("signing app.apk")
