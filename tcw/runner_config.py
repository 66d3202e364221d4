"""worker-runner's config file for its worker, read as tcw's settings.

worker-runner only knows generic-worker, so tcw runs as one: the runner writes generic-worker's config (a
JSON file, mode 0600: ``rootURL``, ``clientId``, ``accessToken``, ``certificate``, ``provisionerId``,
``workerType``, ``workerGroup``, ``workerId``, ``workerLocation``, ``workerTypeMetadata``, maybe
``publicIP``...) merged with the pool's ``workerConfig.genericWorker.config``. A pool definition can only
put settings there, so tcw's own ride under one key of it, ``tcw``, shaped like tcw's config file
(``tcw: {worker: {capacity: 2, idle_timeout: 600}}``). The identity and credentials the runner wrote win
over anything under ``tcw``; generic-worker keys tcw has no use for are returned, to be logged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tcw.config import settings_in
from tcw.config_values import read_yaml_file
from tcw.errors import ConfigError

TCW_KEY = "tcw"
GENERIC_WORKER_KEYS = {
    "rootURL": "root_url",
    "clientId": "credentials.client_id",
    "accessToken": "credentials.access_token",
    "certificate": "credentials.certificate",
    "provisionerId": "worker.provisioner_id",
    "workerType": "worker.worker_type",
    "workerGroup": "worker.worker_group",
    "workerId": "worker.worker_id",
    "workerLocation": "worker.location",
}


def runner_settings(path: Path) -> tuple[dict[str, Any], list[str]]:
    """(dotted settings, the keys ignored) of the file; ``ConfigError`` listing every problem."""
    document = read_yaml_file(path, "worker-runner's config file")  # JSON is YAML
    if not isinstance(document, dict):
        raise ConfigError([f"{path}: worker-runner's config file must hold a JSON object"])
    settings: dict[str, Any] = {}
    problems: list[str] = []
    own = document.get(TCW_KEY, {})
    if isinstance(own, dict):
        settings, problems = settings_in(own, Path(f"{path}: {TCW_KEY}"))
    else:
        problems.append(f"{path}: {TCW_KEY}: expected a mapping of tcw settings")
    ignored = []
    for key, value in document.items():
        if key in GENERIC_WORKER_KEYS:
            if value not in (None, ""):  # worker-runner writes no certificate for permanent credentials
                settings[GENERIC_WORKER_KEYS[key]] = value
        elif key != TCW_KEY:
            ignored.append(str(key))
    if problems:
        raise ConfigError(problems)
    return settings, ignored
