"""An example Python handler: a purpose-specific worker in a few lines.

Run it from the repository root, as a file, with
``tcw run --task-queue tcw-demo/python --executor examples/handler.py:greet --accept-any-payload``
(it declares no payload schema, so its queue needs a registry entry or ``--accept-any-payload``).
"""

from __future__ import annotations

from tcw.executors.api import MalformedPayload, TaskContext


async def greet(ctx: TaskContext) -> None:
    """Writes a greeting for ``payload.name`` and publishes it as ``public/greeting.txt``."""
    name = ctx.payload.get("name")
    if not isinstance(name, str):
        raise MalformedPayload("payload.name must be a string")
    ctx.log.info("greeting %s", name)
    await ctx.upload_artifact("public/greeting.txt", f"hello, {name}\n".encode())
