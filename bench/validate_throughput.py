"""Payload validation throughput: the registry (a compiled, cached validator) against calling
``jsonschema.validate(payload, schema)`` for every payload, measured in the same run.

    .venv/bin/python bench/validate_throughput.py [-n 20000]

The schema is tcw's built-in ``shell`` schema (a subset of generic-worker's POSIX payload), reached the way a
worker reaches it: a registry directory whose index maps the queue pattern to it, then
``Registry.entry_for(queue)`` for every payload. Targets: at least 20,000 validations/s and at least 20 times
the baseline. A third figure, jsonschema's own cached validator, shows what the fast check adds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from tcw.config import RegistrySettings
from tcw.registry import load_registry

QUEUE = "proj-ci/linux-large"
PAYLOAD: dict[str, Any] = {
    "command": [
        ["/bin/bash", "-c", "git clone --depth 1 https://example.com/repo.git src"],
        ["/bin/bash", "-c", "cd src && ./mach build && ./mach test --headless"],
        "tar -C src/obj -czf dist.tar.gz dist",
    ],
    "env": {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MOZ_AUTOMATION": "1",
        "MOZ_SCM_LEVEL": "1",
        "GECKO_HEAD_REV": "0123456789abcdef0123456789abcdef01234567",
    },
    "maxRunTime": 3600,
    "artifacts": [
        {
            "type": "file",
            "path": "dist.tar.gz",
            "name": "public/build/target.tar.gz",
            "expires": "2030-01-01T00:00:00.000Z",
            "contentType": "application/gzip",
        },
        {"type": "directory", "path": "src/obj/logs", "name": "public/logs"},
    ],
    "onExitStatus": {"retry": [75, 99]},
}


def rate(function: Callable[[], object], count: int) -> float:
    """Calls per second of ``function`` over ``count`` calls (after one warm-up call)."""
    function()
    start = time.perf_counter()
    for _ in range(count):
        function()
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="validations through the registry")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "registry"
        directory.mkdir()
        (directory / "index.yaml").write_text("'proj-*/linux-*': shell\n", encoding="utf-8")
        registry = load_registry(
            RegistrySettings(directories=(str(directory),), cache_dir=str(Path(scratch) / "cache"))
        )
    entry = registry.entry_for(QUEUE)
    schema = dict(entry.schema)
    assert entry.validate(PAYLOAD) == [], "the benchmark payload must be valid"
    jsonschema.validate(PAYLOAD, schema)

    baseline_count = max(args.n // 50, 100)
    baseline = rate(lambda: jsonschema.validate(PAYLOAD, schema), baseline_count)
    through_registry = rate(lambda: registry.entry_for(QUEUE).validate(PAYLOAD), args.n)
    validator = entry.validator
    cached_jsonschema = rate(lambda: list(validator.iter_errors(PAYLOAD)), max(args.n // 4, 100))

    print(
        f"payload: generic-worker-like, {len(str(PAYLOAD))} characters; schema: {entry.key} ({entry.source})"
    )
    print(f"jsonschema.validate each time:     {baseline:10,.0f} validations/s ({baseline_count} runs)")
    print(f"jsonschema cached validator:       {cached_jsonschema:10,.0f} validations/s")
    print(f"tcw registry (entry_for+validate): {through_registry:10,.0f} validations/s ({args.n} runs)")
    ratio = through_registry / baseline
    print(f"ratio registry / baseline:         {ratio:10.1f}x  (targets: >= 20x and >= 20,000/s)")
    met = ratio >= 20 and through_registry >= 20000
    print("targets met" if met else "TARGETS NOT MET")


if __name__ == "__main__":
    main()
