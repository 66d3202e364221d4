"""Where a local deployment keeps its secrets: the root client's credentials and the issuer token that
signs every temporary credential it hands out.

They live in ``<secrets dir>/<deployment id>/`` (``queue.secrets_dir``, by default in tcw's state
directory): directories of mode 0700 and files of mode 0600, owned by the queue's user, created without
following symlinks and refused when someone else owns them or they are open to others. The deployment id
is a random name kept in the database, so the secrets follow the database wherever it is moved, yet they are
never beside a database path given on the command line (where another user may read or plant files) and
never in the database itself (which may be readable by others, or copied around).

What this protects against: other users of the host, and tasks run as another user
(``worker.task_user``). What it cannot protect against: a process running as the queue's own user, which
can read every file the queue can; run tasks as another user for that.

The same directory holds ``lock``: held (``flock``) while a queue serves the database, so that a second
``tcw queue serve`` on it is refused, and naming the root URL it serves at (for ``tcw queue env``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tcw.errors import UsageError
from tcw.localqueue.auth.clients import ROOT_CLIENT_ID, Client, generate_access_token

ISSUER_FILE = "issuer-token"
ROOT_FILE = "root-credentials.json"
LOCK_FILE = "lock"


def private_dir(path: Path) -> Path:
    """``path`` as a directory of ours that nobody else can enter, created (mode 0700) if missing."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(path)
    except OSError as error:
        raise UsageError(f"cannot create the directory {path}: {error.strerror or error}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path} is not a directory")
    if info.st_uid != os.geteuid():
        raise UsageError(f"{path} belongs to another user (uid {info.st_uid}); it must be yours")
    if info.st_mode & 0o077:
        raise UsageError(f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}); chmod 700 it")
    return path


def read_private(path: Path) -> str | None:
    """The text of a file of ours that only we can read, or None when there is none."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from error
    with os.fdopen(descriptor, encoding="utf-8") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise UsageError(f"{path} must be a regular file of yours with mode 600")
        return file.read()


def write_private(path: Path, text: str) -> None:
    """Create ``path`` (mode 0600 from the start; never through a symlink, never over a file)."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror or error}") from error
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


@dataclass
class DeploymentSecrets:
    """The secrets of one deployment (one database), in ``directory``."""

    directory: Path
    _lock: IO[str] | None = None

    @classmethod
    def open(cls, secrets_dir: Path, deployment_id: str) -> DeploymentSecrets:
        if not deployment_id.isalnum():
            raise UsageError(f"the database names a malformed deployment id {deployment_id!r}")
        return cls(private_dir(private_dir(secrets_dir) / deployment_id))

    # -- one server per database

    def lock(self, database: str) -> None:
        """Hold the lock for as long as this object serves; UsageError when another queue holds it."""
        path = self.directory / LOCK_FILE
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as error:
            raise UsageError(f"cannot open {path}: {error.strerror or error}") from error
        file = os.fdopen(descriptor, "r+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = file.read().strip() or "another process"
            file.close()
            raise UsageError(
                f"another local queue is already serving the database {database} ({holder}); stop it first"
            ) from None
        self._lock = file

    def record_serving(self, root_url: str) -> None:
        """Say in the lock file where this queue serves: ``tcw queue env`` reads it."""
        if self._lock is not None:
            self._lock.seek(0)
            self._lock.truncate()
            self._lock.write(f"pid {os.getpid()} at {root_url}\n")
            self._lock.flush()

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing releases the flock
            self._lock = None

    def serving_root_url(self) -> str | None:
        """The root URL a running queue serves this database at, or None when no queue serves it."""
        path = self.directory / LOCK_FILE
        try:
            file = open(path, encoding="utf-8")  # noqa: SIM115 -- kept open while probing the lock
        except OSError:
            return None
        with file:
            try:
                fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                words = file.read().split()
                return words[-1] if len(words) >= 4 else None
            fcntl.flock(file, fcntl.LOCK_UN)
            return None

    # -- the secrets

    def issuer_token(self, legacy: str | None = None) -> str:
        """The issuer token, created on first use (``legacy``: one an older tcw kept in the database)."""
        path = self.directory / ISSUER_FILE
        token = read_private(path)
        if token is None:
            token = legacy or secrets.token_urlsafe(33)
            write_private(path, token)
        return token.strip()

    def root_client(self, legacy_file: Path | None = None) -> tuple[Client, bool]:
        """The root client, and whether it was made just now. ``legacy_file``: where an older tcw kept it
        (beside the database); adopted, then removed, when it is a private file of ours."""
        path = self.directory / ROOT_FILE
        text = read_private(path)
        created = False
        if text is None:
            adopted = _adopt(legacy_file) if legacy_file is not None else None
            text = adopted or json.dumps(
                {"clientId": ROOT_CLIENT_ID, "accessToken": generate_access_token()}, indent=2
            )
            write_private(path, text + "\n")
            created = adopted is None
            if adopted is not None and legacy_file is not None:
                legacy_file.unlink()
        return _root_from(path, text), created

    def root_credentials(self) -> dict[str, str] | None:
        text = read_private(self.directory / ROOT_FILE)
        if text is None:
            return None
        root = _root_from(self.directory / ROOT_FILE, text)
        return {"clientId": root.client_id, "accessToken": root.access_token}


def _adopt(legacy_file: Path) -> str | None:
    """The content of a root-credentials file an older tcw wrote beside the database, if it is a private
    file of ours; a file planted by someone else (or open to others) is never trusted."""
    with contextlib.suppress(UsageError):
        return read_private(legacy_file)
    return None


def _root_from(path: Path, text: str) -> Client:
    try:
        content = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{path}: cannot read root credentials: {error}") from error
    client_id = content.get("clientId") if isinstance(content, dict) else None
    token = content.get("accessToken") if isinstance(content, dict) else None
    if not (isinstance(client_id, str) and isinstance(token, str) and client_id and token):
        raise UsageError(f"{path}: root credentials must be JSON with clientId and accessToken strings")
    return Client(client_id, token, ("*",))
