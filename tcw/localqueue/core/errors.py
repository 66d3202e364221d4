"""The real services' answers other than 2xx, as exceptions every layer of the local deployment may raise.

The HTTP layer renders them with the real error body ``{code, message, requestInfo}``; auth raises the 401
and 403 ones, the services the 4xx of their methods. They live at the bottom so that no layer has to import
the one above it to say "no".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ApiError(Exception):
    """An answer of the real service other than 2xx."""

    status = 500
    code = "InternalServerError"

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class InputError(ApiError):
    status = 400
    code = "InputError"


class MalformedPayload(ApiError):
    """The body is not JSON."""

    status = 400
    code = "MalformedPayload"


class InputValidationError(ApiError):
    """The body is JSON but breaks the method's input schema."""

    status = 400
    code = "InputValidationError"


class InvalidRequestArguments(ApiError):
    status = 400
    code = "InvalidRequestArguments"


class AuthenticationFailed(ApiError):
    status = 401
    code = "AuthenticationFailed"


class InsufficientScopes(ApiError):
    status = 403
    code = "InsufficientScopes"


class ResourceNotFound(ApiError):
    status = 404
    code = "ResourceNotFound"


class RequestConflict(ApiError):
    status = 409
    code = "RequestConflict"


class NoMatchingMethod(ApiError):
    """startDownload offered no download method the object service supports."""

    status = 406
    code = "NoMatchingMethod"


class ResourceExpired(ApiError):
    """The artifact existed but has expired."""

    status = 410
    code = "ResourceExpired"


class RequestTimeout(ApiError):
    """The request's body did not arrive in time."""

    status = 408
    code = "RequestTimeout"


class PayloadTooLarge(ApiError):
    status = 413
    code = "PayloadTooLarge"
