"""The import rules the tree is built on, read from the source with ``ast`` (nothing is imported).

1. No import cycle anywhere in ``tcw/``.
2. ``tcw/executors`` never imports ``tcw.engine``; ``tcw/engine`` imports nothing of ``tcw.executors`` but
   the contract, ``tcw.executors.api``.
3. Only the adapter, ``tcw.taskcluster_client``, constructs clients of the official ``taskcluster``
   package: no other module imports it, except ``tcw/localqueue``, which reads the client's route tables
   (``Queue.funcinfo``) and uses its ``createTemporaryCredentials``, but never calls a client class.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

TCW = Path(__file__).resolve().parent.parent / "tcw"
CONTRACT = "tcw.executors.api"
ADAPTER = "tcw.taskcluster_client"
LOCAL_QUEUE = "tcw.localqueue"


def module_name(path: Path) -> str:
    parts = path.relative_to(TCW.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(TCW.rglob("*.py"))}


@cache
def syntax_tree(module: str) -> ast.Module:
    """The module's parsed source, parsed once for all the tests here."""
    path = modules()[module]
    return ast.parse(path.read_text(), str(path))


@cache
def imported(module: str) -> tuple[tuple[str, int], ...]:
    """Every module ``module`` imports (at any depth of its code, lazy imports included), with the line."""
    return tuple(_imports(module))


def _imports(module: str) -> Iterator[tuple[str, int]]:
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(syntax_tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base, node.lineno
            for alias in node.names:  # ``from tcw import tasks`` imports the module tcw.tasks
                if f"{base}.{alias.name}" in modules():
                    yield f"{base}.{alias.name}", node.lineno


def internal_edges() -> dict[str, set[str]]:
    """Module -> the tcw modules it imports (``tcw.a.b`` also imports its packages ``tcw.a`` and ``tcw``)."""
    edges: dict[str, set[str]] = {}
    for module in modules():
        targets = edges.setdefault(module, set())
        for name, _ in imported(module):
            if name in modules() and name != module and not module.startswith(f"{name}."):
                targets.add(name)
    return edges


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in edges.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or not."""
    reach = {node: reachable(edges, node) for node in edges}
    groups = {frozenset(m for m in reach[node] if node in reach[m]) for node in edges if node in reach[node]}
    return sorted(sorted(group) for group in groups)


def test_no_import_cycle_anywhere() -> None:
    assert cycles(internal_edges()) == []


def test_engine_and_executors_meet_only_at_the_contract() -> None:
    crossings = []
    for module in modules():
        for name, line in imported(module):
            if module.startswith("tcw.executors") and name.startswith("tcw.engine"):
                crossings.append(f"{module}:{line} imports {name}")
            if module.startswith("tcw.engine") and name.startswith("tcw.executors") and name != CONTRACT:
                crossings.append(f"{module}:{line} imports {name}")
    assert crossings == []


def is_client_module(name: str) -> bool:
    return name == "taskcluster" or name.startswith("taskcluster.")


def test_only_the_adapter_and_the_local_queue_import_the_client() -> None:
    importers = [
        f"{module}:{line} imports {name}"
        for module in modules()
        if module != ADAPTER and not module.startswith(f"{LOCAL_QUEUE}.")
        for name, line in imported(module)
        if is_client_module(name)
    ]
    assert importers == []


def client_constructions(module: str) -> Iterator[str]:
    """Calls like ``taskcluster.Queue(...)`` / ``taskcluster.aio.Object(...)``, and imports of a class."""
    for node in ast.walk(syntax_tree(module)):
        if isinstance(node, ast.ImportFrom) and is_client_module(node.module or ""):
            for alias in node.names:
                if alias.name[:1].isupper() and not alias.name.endswith(("Error", "Failure")):
                    yield f"{module}:{node.lineno} imports {node.module}.{alias.name}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root: ast.expr = node.func
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id == "taskcluster" and node.func.attr[:1].isupper():
                yield f"{module}:{node.lineno} calls taskcluster...{node.func.attr}"


def test_the_local_queue_constructs_no_client() -> None:
    found = [
        found
        for module in modules()
        if module.startswith(LOCAL_QUEUE)
        for found in client_constructions(module)
    ]
    assert found == []


def test_the_rules_see_imports() -> None:
    """The walk finds what it must, or the tests above would pass on nothing."""
    assert any(name == CONTRACT for name, _ in imported("tcw.engine.outcome"))
    assert any(is_client_module(name) for name, _ in imported(ADAPTER))  # lazy imports included
    assert len(list(client_constructions(ADAPTER))) >= 3
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
