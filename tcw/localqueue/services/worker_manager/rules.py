"""worker-manager's request rules: its body checks (the input schemas, as code of ours), the route
arguments the generic checks do not know (workerPoolId), the list filters, and each provider's config
check (the provider's ``config-<type>`` schema)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tcw.localqueue.core.checks import (
    IDENTIFIER,
    TASK_QUEUE_ID,
    Check,
    any_value,
    date_time,
    fields,
    integer,
    json_object,
    string,
)
from tcw.localqueue.core.errors import InputError, InputValidationError, InvalidRequestArguments

WORKER_POOL_ID = TASK_QUEUE_ID  # the same pattern: a worker pool's id is its task queue's id
SECRET = re.compile(r"^[a-zA-Z0-9_-]{44}\Z")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\Z")
ERROR_KIND = re.compile(r"(?s).*[-a-z0-9]")  # the schema's pattern is unanchored: one such character
WORKER_STATES = ("requested", "running", "stopping", "stopped", "standalone")
MAX_REREGISTRATION_TIMEOUT = 2_592_000  # seconds, worker-lifecycle.json

STATIC_PROVIDER = "static"
NULL_PROVIDER = "null-provider"
PROVIDERS = (STATIC_PROVIDER, NULL_PROVIDER)

_identifier = string(IDENTIFIER)
_pool_fields: dict[str, Check] = {
    "providerId": _identifier,
    "description": string(max_length=10240),
    "config": json_object,
    "owner": string(EMAIL),
    "emailOnError": lambda value, place: [] if isinstance(value, bool) else [f"{place} must be a boolean"],
}
_static_secret = fields({"staticSecret": string(SECRET)})


def _identity_proof(value: Any, place: str) -> list[str]:
    """One of the providers' proofs (static, google, aws, azure); which one fits is the provider's say."""
    shapes = (
        _static_secret,
        fields({"token": string()}),
        fields({"document": string(), "signature": string()}),
        fields({"document": string()}),
    )
    if any(not shape(value, place) for shape in shapes):
        return []
    return [f"{place} must be one of the providers' identity proofs"]


BODY_CHECKS: dict[str, Check] = {
    "createWorkerPool": fields(_pool_fields),
    "updateWorkerPool": fields(
        _pool_fields,
        {"workerPoolId": string(WORKER_POOL_ID), "created": date_time, "lastModified": date_time},
    ),
    "createWorker": fields(
        {"expires": date_time}, {"capacity": integer(minimum=1), "providerInfo": _static_secret}
    ),
    "registerWorker": fields(
        {
            "workerPoolId": string(WORKER_POOL_ID),
            "providerId": _identifier,
            "workerGroup": _identifier,
            "workerId": _identifier,
            "workerIdentityProof": _identity_proof,
        },
        {"systemBootTime": date_time},
    ),
    "reregisterWorker": fields(
        {
            "workerPoolId": string(WORKER_POOL_ID),
            "workerGroup": _identifier,
            "workerId": _identifier,
            "secret": string(SECRET),
        }
    ),
    "reportWorkerError": fields(
        {
            "workerGroup": _identifier,
            "workerId": _identifier,
            "kind": string(ERROR_KIND, max_length=128),
            "title": string(max_length=128),
            "description": string(max_length=10240),
            "extra": json_object,
        }
    ),
}

_STATIC_CONFIG = fields(
    {},
    {
        "lifecycle": fields({}, {"reregistrationTimeout": integer(0, MAX_REREGISTRATION_TIMEOUT)}),
        "workerConfig": json_object,
    },
)
_CONFIG_CHECKS: dict[str, Check] = {STATIC_PROVIDER: _STATIC_CONFIG, NULL_PROVIDER: any_value}


def check_provider_config(provider_id: str, config: Any) -> None:
    """InputError for a provider this deployment does not have; InputValidationError for a config its
    provider's schema refuses."""
    if provider_id not in PROVIDERS:
        raise InputError(f"Invalid Provider {provider_id!r}; this deployment has {', '.join(PROVIDERS)}")
    problems = _CONFIG_CHECKS[provider_id](config, "config")
    if problems:
        raise InputValidationError("\n".join(problems))


def check_worker_pool_id(params: Mapping[str, str]) -> str:
    worker_pool_id = params["workerPoolId"]
    if not WORKER_POOL_ID.match(worker_pool_id):
        problem = f"workerPoolId {worker_pool_id!r} does not match {WORKER_POOL_ID.pattern}"
        raise InvalidRequestArguments(f"Invalid request arguments:\n{problem}")
    return worker_pool_id


def state_filter(query: Mapping[str, str]) -> str | None:
    state = query.get("state")
    if state is not None and state not in WORKER_STATES:
        raise InvalidRequestArguments(f"state must be one of {', '.join(WORKER_STATES)}, got {state!r}")
    return state
