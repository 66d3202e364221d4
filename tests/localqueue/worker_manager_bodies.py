"""worker-manager request bodies for test_request_checks.py: valid ones (the mutations are made from them)
and ones that each break one rule the mutations cannot (patterns, lengths, ranges)."""

from __future__ import annotations

from typing import Any

from tests.support.localqueue import from_now

SECRET = "s" * 44
POOL_ID = "tcw-pool/worker"
POOL = {
    "providerId": "static",
    "description": "a pool",
    "config": {"lifecycle": {"reregistrationTimeout": 3600}, "workerConfig": {"genericWorker": {}}},
    "owner": "tcw@example.com",
    "emailOnError": False,
}
WORKER = {"workerGroup": "group", "workerId": "worker"}
REGISTER = {
    **WORKER,
    "workerPoolId": POOL_ID,
    "providerId": "static",
    "workerIdentityProof": {"staticSecret": SECRET},
}
ERROR = {
    **WORKER,
    "kind": "config-error",
    "title": "Bad config",
    "description": "no such key",
    "extra": {"k": 1},
}

VALID: dict[tuple[str, str], list[Any]] = {
    ("worker-manager", "createWorkerPool"): [POOL],
    ("worker-manager", "updateWorkerPool"): [
        POOL,
        {**POOL, "workerPoolId": POOL_ID, "created": from_now(), "lastModified": from_now()},
    ],
    ("worker-manager", "createWorker"): [
        {"expires": from_now(days=1)},
        {"expires": from_now(days=1), "capacity": 2, "providerInfo": {"staticSecret": SECRET}},
    ],
    ("worker-manager", "registerWorker"): [
        REGISTER,
        {**REGISTER, "workerIdentityProof": {"token": "t"}, "systemBootTime": from_now()},
        {**REGISTER, "workerIdentityProof": {"document": "d", "signature": "s"}},
        {**REGISTER, "workerIdentityProof": {"document": "d"}},
    ],
    ("worker-manager", "reregisterWorker"): [{**WORKER, "workerPoolId": POOL_ID, "secret": SECRET}],
    ("worker-manager", "reportWorkerError"): [ERROR],
}

BROKEN: dict[tuple[str, str], list[Any]] = {
    ("worker-manager", "createWorkerPool"): [
        {**POOL, "providerId": ""},
        {**POOL, "providerId": "with space"},
        {**POOL, "providerId": "p" * 39},
        {**POOL, "owner": "nobody"},
        {**POOL, "description": "d" * 10241},
    ],
    ("worker-manager", "updateWorkerPool"): [{**POOL, "workerPoolId": "no-slash"}],
    ("worker-manager", "createWorker"): [
        {"expires": from_now(days=1), "capacity": 0},
        {"expires": from_now(days=1), "providerInfo": {"staticSecret": "short"}},
    ],
    ("worker-manager", "registerWorker"): [
        {**REGISTER, "workerPoolId": "Upper/worker"},
        {**REGISTER, "workerGroup": "g" * 39},
        {**REGISTER, "workerIdentityProof": {"staticSecret": SECRET + "x"}},
        {**REGISTER, "workerIdentityProof": {}},
    ],
    ("worker-manager", "reregisterWorker"): [{**WORKER, "workerPoolId": POOL_ID, "secret": "s" * 43}],
    ("worker-manager", "reportWorkerError"): [
        {**ERROR, "kind": "UPPER"},
        {**ERROR, "kind": "k" * 129},
        {**ERROR, "title": "t" * 129},
        {**ERROR, "description": "d" * 10241},
    ],
}
