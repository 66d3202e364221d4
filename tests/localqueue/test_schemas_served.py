"""The local queue serves a directory at /schemas/, as a deployment serves its payload schemas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tcw.config import LocalQueueSettings
from tcw.localqueue.server import LocalQueue
from tests.support.cli import RunCli
from tests.support.localqueue import MakeLocalQueue


def test_schemas_are_served_read_only_from_the_directory(
    make_local_queue: MakeLocalQueue, tmp_path: Path
) -> None:
    schemas = tmp_path / "schemas"
    (schemas / "generic-worker").mkdir(parents=True)
    schema = {"$id": "/schemas/generic-worker/x.json#", "type": "object"}
    (schemas / "generic-worker" / "x.json").write_text(json.dumps(schema))
    (tmp_path / "secret.txt").write_text("not for you")
    queue = make_local_queue(schemas_dir=str(schemas))

    served = requests.get(f"{queue.root_url}/schemas/generic-worker/x.json", timeout=10)
    assert served.status_code == 200 and served.json() == schema
    assert served.headers["Content-Type"].startswith("application/json")
    assert requests.get(f"{queue.root_url}/schemas/generic-worker/nope.json", timeout=10).status_code == 404
    escape = requests.get(f"{queue.root_url}/schemas/..%2Fsecret.txt", timeout=10)
    assert escape.status_code in (403, 404) and "not for you" not in escape.text
    assert (
        requests.put(f"{queue.root_url}/schemas/generic-worker/x.json", data=b"{}", timeout=10).status_code
        >= 400
    )
    assert (
        requests.get(f"{queue.root_url}/api/queue/v1/ping", timeout=10).status_code == 200
    )  # API still there


def test_without_a_directory_nothing_is_served_at_schemas(local_queue: LocalQueue) -> None:
    assert requests.get(f"{local_queue.root_url}/schemas/x.json", timeout=10).status_code == 404


def test_a_missing_schemas_directory_is_refused(run_cli: RunCli, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="is not a directory"):
        LocalQueue(LocalQueueSettings(port=0, db=":memory:", schemas_dir=str(tmp_path / "nope"))).start()
    result = run_cli(
        ["tcw", "queue", "serve", "--port", "0", "--schemas", str(tmp_path / "nope")], exit_code=2
    )
    assert "does not exist" in result.stderr
