"""The claim's credentials in an anonymous file, for scriptworker-style scripts: TASKCLUSTER_CREDENTIALS_FD.

scriptworker (since 63.1) gives its scripts the claim's temporary credentials this way: JSON
``{clientId, accessToken, certificate}`` in a file with no name, whose descriptor the script inherits,
rewritten in place after each reclaim, so a script rereads it (seek to 0, read) before each call. These
are the claim's own credentials, with the worker-only scopes (reclaim, resolve) that the task proxy keeps
from tasks: only a worker that runs code it trusts should opt in.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping

ENV_NAME = "TASKCLUSTER_CREDENTIALS_FD"


class CredentialsFile:
    """An anonymous file holding the current credentials; ``child_fd`` is what children inherit: read-only
    where the OS can reopen the file (Linux), with a file offset of its own."""

    def __init__(self, credentials: Mapping[str, str]) -> None:
        self.fd = _anonymous_file()
        self.write(credentials)
        self.child_fd = _reader(self.fd)

    def write(self, credentials: Mapping[str, str]) -> None:
        """Replace the content in place: the same descriptor (and open file) for every reader."""
        wanted = ("clientId", "accessToken", "certificate")
        data = json.dumps({key: credentials[key] for key in wanted if key in credentials}).encode()
        os.pwrite(self.fd, data, 0)
        os.ftruncate(self.fd, len(data))

    def close(self) -> None:
        for fd in {self.fd, self.child_fd} - {-1}:
            os.close(fd)
        self.fd = self.child_fd = -1


def _anonymous_file() -> int:
    """memfd on Linux (never on disk); elsewhere an unlinked temporary file readable by its owner only."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("tcw-task-credentials")
    with tempfile.TemporaryFile() as file:
        return os.dup(file.fileno())


def _reader(fd: int) -> int:
    try:
        return os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return os.dup(fd)
