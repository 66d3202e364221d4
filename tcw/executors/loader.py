"""Choosing and loading the executor that runs a task: ``shell``, an entry point, or ``module:function``.

A purpose-specific worker is one function. Put it in an importable module::

    # mysigner.py
    from tcw.executors.api import MalformedPayload, TaskContext

    async def sign(ctx: TaskContext) -> None:
        if "file" not in ctx.payload:
            raise MalformedPayload("payload.file is required")
        ctx.log.info("signing %s", ctx.payload["file"])
        (ctx.work_dir / "signed.bin").write_bytes(b"...")
        await ctx.upload_artifact("public/signed.bin", ctx.work_dir / "signed.bin")

and run ``tcw run --executor mysigner:sign`` (or, uninstalled, ``--executor path/to/mysigner.py:sign``).
Or register it in the package that ships it::

    # setup.cfg
    [options.entry_points]
    tcw.executors =
        signer = mysigner:sign

and use ``--executor signer``, or pick it for some task queues only with the config's
``worker.executors`` (``{"proj-release/signing-*": "signer"}``) or with the ``executor`` of the queue's
payload-schema registry entry (``tcw.engine.executor_choice`` says which wins). Returning resolves the
run ``completed``; raising a ``tcw.executors.api`` exception resolves it as that exception says. A plain
``def`` handler works too: it runs in a thread so it cannot block the worker's event loop, and it should
check ``ctx.cancelled.is_set()`` during long work, since a thread cannot be interrupted.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tcw.errors import UsageError
from tcw.executors.api import Executor, TaskContext
from tcw.executors.shell import ShellExecutor

if TYPE_CHECKING:
    from tcw.config import Config

ENTRY_POINT_GROUP = "tcw.executors"


def _shell(config: Config | None) -> Executor:
    return ShellExecutor() if config is None else ShellExecutor.from_config(config)


BUILTIN_EXECUTORS: Mapping[str, Callable[[Config | None], Executor]] = {"shell": _shell}


def resolve_executor(spec: str, config: Config | None = None) -> Executor:
    """The executor named by ``spec``: a built-in name, an entry point in ``tcw.executors``, or
    ``module:function``. Built-ins take their settings from ``config`` (defaults without one). Raises
    ``UsageError`` saying what is wrong with the spec."""
    spec = spec.strip()
    if not spec:
        raise UsageError("executor: empty name; use 'shell', an entry point name or module:function")
    if ":" in spec:  # module:function, or path/to/file.py:function
        return as_executor(_import_target(spec), spec)
    if spec in BUILTIN_EXECUTORS:
        return BUILTIN_EXECUTORS[spec](config)
    return as_executor(_load_entry_point(spec), spec)


def known_executor_names() -> list[str]:
    """Built-in names and the entry points installed in ``tcw.executors``."""
    return sorted(set(BUILTIN_EXECUTORS) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def as_executor(handler: object, spec: str) -> Executor:
    """Wrap a handler as an executor: async handlers are used as they are, plain ones run in a thread."""
    if not callable(handler):
        raise UsageError(
            f"executor {spec!r}: {type(handler).__name__} object is not callable; "
            "it must be a function taking a TaskContext"
        )
    if inspect.isclass(handler):
        raise UsageError(
            f"executor {spec!r}: {handler.__name__} is a class; point at a function, or at an instance"
        )
    if _is_async(handler):
        return handler
    return _in_thread(handler)


def _is_async(handler: Callable[..., Any]) -> bool:
    # An instance whose class has ``async def __call__`` is async too.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(type(handler).__call__)


def _in_thread(handler: Callable[[TaskContext], Any]) -> Executor:
    @functools.wraps(handler)
    async def run_in_thread(ctx: TaskContext) -> None:
        result = await asyncio.to_thread(handler, ctx)
        if inspect.isawaitable(result):  # a plain function that returned a coroutine
            await result

    return run_in_thread


def _import_target(spec: str) -> object:
    module_name, _, attribute_path = spec.rpartition(":")
    if not module_name or not attribute_path:
        raise UsageError(f"executor {spec!r}: expected module:function, e.g. mypackage.handlers:sign")
    try:
        target: object = (
            _import_file(spec, Path(module_name))
            if _is_file(module_name)
            else importlib.import_module(module_name)
        )
    except UsageError:
        raise
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(f"{error.name}.")):
            raise UsageError(f"executor {spec!r}: no module named {module_name!r}") from error
        raise UsageError(f"executor {spec!r}: importing {module_name} failed: {error}") from error
    except Exception as error:
        raise UsageError(
            f"executor {spec!r}: importing {module_name} failed: {type(error).__name__}: {error}"
        ) from error
    for attribute in attribute_path.split("."):
        if not hasattr(target, attribute):
            raise UsageError(f"executor {spec!r}: {module_name} has no attribute {attribute_path!r}")
        target = getattr(target, attribute)
    return target


def _is_file(module_name: str) -> bool:
    """``examples/handler.py`` (a path) rather than ``examples.handler`` (a module name)."""
    return module_name.endswith(".py") or "/" in module_name or os.sep in module_name


def _import_file(spec: str, path: Path) -> object:
    """A handler file run as typed from a clone (``examples/handler.py:greet``), not installed anywhere:
    imported under a name of its own, so two files called handler.py do not replace each other."""
    path = path.resolve()
    if not path.is_file():
        raise UsageError(f"executor {spec!r}: no file {path}")
    name = f"tcw_handler_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise UsageError(f"executor {spec!r}: {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_entry_point(name: str) -> object:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join(known_executor_names())
        raise UsageError(f"executor {name!r}: unknown; known executors: {known} (or give module:function)")
    try:
        return found[0].load()
    except Exception as error:
        raise UsageError(
            f"executor {name!r}: its entry point {found[0].value} cannot be loaded: "
            f"{type(error).__name__}: {error}"
        ) from error
