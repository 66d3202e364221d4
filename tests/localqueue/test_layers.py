"""The local deployment's layers, read from its source with ``ast``: no import cycle inside tcw/localqueue,
each layer imports only the layers below it, and one service never imports another.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: an arrow is an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tcw.localqueue

PACKAGE = "tcw.localqueue"
ROOT = Path(tcw.localqueue.__file__).parent

# Bottom to top; a module's layer is the first part of its name below tcw.localqueue.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("core",),  # errors, dates, JSON, request-check combinators
    ("storage",),  # all SQL, one module per aggregate
    ("auth",),  # hawk, certificates, clients, scopes
    ("services",),  # each Taskcluster service's handlers, over the shared state
    ("http",),  # routes, request parsing, error bodies, byte endpoints
    ("ui",),  # the read-only web view, reading through the services as the anonymous caller
    ("deployment", "server"),  # which services, and running them
)
# Modules of services/ that every service may use; services/<name>/ are siblings.
SHARED_SERVICE_MODULES = ("api", "state", "meta")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The tcw.localqueue modules ``path`` imports (``from package import module`` names the module)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: a relative import; the project imports absolutely"
            base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names
            ]
        else:
            continue
        yield from (target for target in targets if target in known and target != name)


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: set(imported(name, path, known)) for name, path in found.items()}


def layer_of(name: str) -> int:
    first = name.removeprefix(PACKAGE).lstrip(".").split(".")[0]
    for rank, layer in enumerate(LAYERS):
        if first in layer:
            return rank
    raise AssertionError(f"{name} is in no layer of LAYERS: put it in one")


def service_of(name: str) -> str | None:
    """The service package a module belongs to (services/<service>/...), or None."""
    parts = name.removeprefix(PACKAGE).lstrip(".").split(".")
    if parts[0] == "services" and len(parts) > 2:
        return parts[1]
    return None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that returns to its start, or None."""
    done: set[str] = set()
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(name: str) -> list[str] | None:
        stack.append(name)
        on_stack.add(name)
        for target in sorted(graph[name]):
            if target in on_stack:
                return [*stack[stack.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        stack.pop()
        on_stack.discard(name)
        done.add(name)
        return None

    for name in sorted(graph):
        if name not in done:
            cycle = visit(name)
            if cycle:
                return cycle
    return None


def test_the_checker_sees_imports_and_cycles() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.storage.database" in graph[f"{PACKAGE}.storage.tasks"]
    assert f"{PACKAGE}.services.queue.tasks" in graph[f"{PACKAGE}.services.queue.service"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_the_local_deployment() -> None:
    assert find_cycle(import_graph()) is None


def test_each_layer_imports_only_layers_below_it() -> None:
    upward = [
        f"{name} ({LAYERS[layer_of(name)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for name, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(name)
    ]
    assert upward == []


def test_services_are_siblings() -> None:
    crossing = [
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        for target in targets
        if service_of(name) and service_of(target) and service_of(target) != service_of(name)
    ]
    assert crossing == []
    shared = {
        target.removeprefix(f"{PACKAGE}.services.")
        for name, targets in import_graph().items()
        if service_of(name)
        for target in targets
        if target.startswith(f"{PACKAGE}.services.") and service_of(target) is None
    }
    assert shared <= set(SHARED_SERVICE_MODULES)


def test_package_markers_import_nothing() -> None:
    """An ``__init__.py`` runs whenever a module below it is imported: one that imported a module of its own
    package would close a cycle that the graph above cannot see."""
    graph = import_graph()
    markers = [module_name(path) for path in ROOT.rglob("__init__.py")]
    assert len(markers) >= 8  # the package and its layers are regular packages, not namespace ones
    assert {name: graph[name] for name in markers} == {name: set() for name in markers}
