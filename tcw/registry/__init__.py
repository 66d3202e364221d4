"""The payload-schema registry, keyed by task queue (`provisionerId/workerType`).

``load_registry(settings, root_url=...)`` merges tcw's built-in schemas, the ``tcw.payload_schemas`` entry
points, registry directories and configured schema URLs (in that order, later wins; see
``tcw.registry.registry``). ``Registry.entry_for(task_queue_id)`` returns the most specific entry, whose
``validate(payload)`` lists every ``PayloadProblem``; ``render_problems_text`` is the text the CLI prints and
the engine writes into a task log. Importing this package does not import jsonschema: schemas are compiled
on first use.
"""

from tcw.registry.entry import PayloadSchema, RegistryEntry
from tcw.registry.problems import PayloadProblem, format_path, render_problems_text
from tcw.registry.registry import Registry, UnknownSchema, builtin_schema, load_registry

__all__ = [
    "PayloadProblem",
    "PayloadSchema",
    "Registry",
    "RegistryEntry",
    "UnknownSchema",
    "builtin_schema",
    "format_path",
    "load_registry",
    "render_problems_text",
]
