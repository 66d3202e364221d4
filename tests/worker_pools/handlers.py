"""A handler that tries to speak to worker-runner: under the runner, none of it may reach the protocol."""

from __future__ import annotations

import os
import sys

from tcw.executors.api import TaskContext

PROTOCOL_LOOKING = '~{"type":"shutdown"}'


def prints_protocol(ctx: TaskContext) -> None:
    print(PROTOCOL_LOOKING, flush=True)
    sys.stdout.write(PROTOCOL_LOOKING + "\n")
    sys.stdout.flush()
    os.write(1, (PROTOCOL_LOOKING + "\n").encode())
    ctx.log.info("printed three protocol-looking lines")
