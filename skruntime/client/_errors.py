"""Exceptions the SDK raises, mapped from the server's problem types.

::

    ClientError                      (a skruntime.SkRuntimeError)
    ├── TransportError               the request did not get an answer
    └── ApiError                     the server answered with a problem
        ├── AuthError                401 unauthorized, 403 forbidden
        ├── NotFoundError            404: actor, version, deployment, key
        ├── ConflictError            409
        │   ├── EventNotHandledError the state does not take the event (.accepted)
        │   ├── ActorDoneError       the actor is done
        │   └── PreviewStaleError    the deploy's preview token is stale (.counts)
        ├── ValidationError          400/413/422 (.pointer into the request)
        │   └── InvalidDefinitionError
        └── ServerUnavailableError   503: starting, stopping, store trouble
"""

from __future__ import annotations

from typing import Any

from .._exceptions import SkRuntimeError

__all__ = [
    "ActorDoneError",
    "ApiError",
    "AuthError",
    "ClientError",
    "ConflictError",
    "EventNotHandledError",
    "InvalidDefinitionError",
    "NotFoundError",
    "PreviewStaleError",
    "ServerUnavailableError",
    "TransportError",
    "ValidationError",
    "error_from_problem",
]


class ClientError(SkRuntimeError):
    """Root of the SDK's errors."""


class TransportError(ClientError):
    """The request did not reach the server or got no answer (connection
    refused, reset, timeout).  Sends are retried automatically with their
    idempotency key before this is raised."""


class ApiError(ClientError):
    """The server answered with an RFC 9457 problem.

    Attributes:
        status: the HTTP status.
        type: the stable problem type (``urn:skruntime:problem:<slug>``).
        slug: the last part of ``type``.
        detail: the server's explanation.
        problem: the whole problem document.
    """

    def __init__(self, problem: dict[str, Any]) -> None:
        self.problem = problem
        self.status = int(problem.get("status", 0))
        self.type = str(problem.get("type", "about:blank"))
        self.slug = self.type.rsplit(":", 1)[-1]
        self.detail = str(problem.get("detail", ""))
        super().__init__(f"{self.status} {self.slug}: {self.detail}")


class AuthError(ApiError):
    """401 (no or unknown API key) or 403 (the key's scope is too small)."""


class NotFoundError(ApiError):
    """404: the actor, version, deployment or key does not exist."""


class ConflictError(ApiError):
    """409: the request conflicts with the current state."""


class EventNotHandledError(ConflictError):
    """The actor's current state does not handle the event.

    Attributes:
        accepted: the event types the current state accepts.
    """

    @property
    def accepted(self) -> list[str]:
        return list(self.problem.get("accepted", []))


class ActorDoneError(ConflictError):
    """The actor reached a final state and takes no more events."""


class PreviewStaleError(ConflictError):
    """The deploy's preview token no longer matches; preview again.

    Attributes:
        counts: the new evaluation's counts.
    """

    @property
    def counts(self) -> dict[str, Any]:
        return dict(self.problem.get("counts", {}))


class ValidationError(ApiError):
    """400, 413 or 422: the request is malformed or not acceptable.

    Attributes:
        pointer: JSON Pointer into the request body, when the server gave one.
    """

    @property
    def pointer(self) -> str | None:
        value = self.problem.get("pointer")
        return None if value is None else str(value)


class InvalidDefinitionError(ValidationError):
    """The deployed definition is invalid; ``pointer`` points into the body."""


class ServerUnavailableError(ApiError):
    """503: the server is starting, stopping, or its store failed; retry."""


_BY_SLUG: dict[str, type[ApiError]] = {
    "event-not-handled": EventNotHandledError,
    "actor-done": ActorDoneError,
    "preview-stale": PreviewStaleError,
    "invalid-definition": InvalidDefinitionError,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthError,
    403: AuthError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    422: ValidationError,
    503: ServerUnavailableError,
}


def error_from_problem(problem: dict[str, Any]) -> ApiError:
    """The most specific exception for a problem document."""
    slug = str(problem.get("type", "")).rsplit(":", 1)[-1]
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(int(problem.get("status", 0)), ApiError)
    return cls(problem)
