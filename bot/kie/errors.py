"""One error tree for everything the kie.ai client can raise (docs/kie-api.md §7).

kie.ai reports errors in the body ``code`` of an HTTP 200 answer, and sometimes (or behind a
proxy) as a real HTTP status. Both paths go through :func:`error_for_code`, so a caller catches
the same class whichever way the code arrived; :class:`Origin` records which way it was
(docs/kie-api.md §2). This module imports nothing else from the package.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol

__all__ = [
    "KieError",
    "KieFeatureDisabled",
    "KieGenerationFailed",
    "KieInsufficientCredits",
    "KieMaintenance",
    "KieNotFound",
    "KieNotNow",
    "KieOutcomeUnknown",
    "KieRateLimited",
    "KieRequestInvalid",
    "KieServerError",
    "KieSubKeyLimit",
    "KieTaskNotFound",
    "KieTransportError",
    "KieUnauthorized",
    "KieUnexpectedResponse",
    "KieUpstreamTimeout",
    "KieValidationError",
    "Origin",
    "SentRequest",
    "error_for_code",
]


class Origin(enum.Enum):
    """Where an error's code came from, which tells what kie may have done with the request."""

    BODY = "body"  # kie's own JSON envelope: kie handled the request
    STATUS = "status"  # only an HTTP status: perhaps a gateway or Cloudflare in front of kie
    CONFLICT = "conflict"  # the body claimed success but the HTTP status was an error


class SentRequest(Protocol):
    """What KieOutcomeUnknown needs of the request it carries (a CreateTaskRequest)."""

    # A protocol, not the class itself, so that errors.py never imports models.py.
    def to_payload(self) -> dict[str, Any]:
        """Build the JSON body that was sent."""
        ...


class KieError(Exception):
    """Base of every kie.ai error; ``code`` is kie's code (or HTTP status), None if local."""

    def __init__(self, code: int | None, message: str, *, origin: Origin = Origin.BODY) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.origin = origin

    def __str__(self) -> str:
        """Render the code and message for logs and tracebacks."""
        if self.code is None:
            return self.message
        return f"kie.ai error {self.code}: {self.message}"

    def __repr__(self) -> str:
        """Show the class, code and message."""
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class KieUnauthorized(KieError):
    """401: the API key is missing, wrong or not allowed from this IP."""


class KieInsufficientCredits(KieError):
    """402: the account cannot pay for the request."""


class KieNotFound(KieError):
    """404: the endpoint or resource does not exist."""


class KieUpstreamTimeout(KieError):
    """408: kie's upstream returned nothing for over 10 minutes."""


class KieValidationError(KieError):
    """422 (and 400): kie refused the request's parameters."""


class KieTaskNotFound(KieValidationError, KieNotFound):
    """recordInfo's "no such task": 422 "recordInfo is null", or 404 in kie's own envelope.

    A subclass of both KieValidationError (the 422 form) and KieNotFound (the 404 form), so a
    caller catching either parent still catches it (docs/kie-api.md §4).
    """


class KieNotNow(KieError):
    """429 or 455: kie refused the request for now; it was rejected, not queued.

    ``retry_after`` is the answer's Retry-After in seconds, or None when it had none. For
    createTask the client raises it at once, without retrying (docs/kie-api.md §9): nothing
    was made, and the caller decides when to come back.
    """

    def __init__(
        self,
        code: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        origin: Origin = Origin.BODY,
    ) -> None:
        super().__init__(code, message, origin=origin)
        self.retry_after = retry_after


class KieRateLimited(KieNotNow):
    """429: too many requests; the request was rejected, not queued."""


class KieSubKeyLimit(KieError):
    """433: this sub-key has used up its hourly, daily or total allowance."""


class KieMaintenance(KieNotNow):
    """455: kie.ai is under maintenance; the request was rejected, not queued."""


class KieServerError(KieError):
    """500 (and other 5xx without a dedicated class): kie had an internal error."""


class KieGenerationFailed(KieError):
    """501: the generation failed."""


class KieFeatureDisabled(KieError):
    """505: the feature is disabled for this account or model."""


class KieUnexpectedResponse(KieError):
    """An answer the client cannot read: not JSON, wrong shape, or a Cloudflare error page."""


class KieTransportError(KieError):
    """The connection failed or timed out on every attempt; no answer was read."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


class KieOutcomeUnknown(KieError):
    """A createTask may or may not have made a task; it must be reconciled, never resent."""

    def __init__(self, message: str, *, request: SentRequest) -> None:
        super().__init__(None, message)
        self.request = request


class KieRequestInvalid(KieError):
    """The request failed client-side validation; nothing was sent."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(None, message)
        self.args = (field, message)
        self.field = field

    def __str__(self) -> str:
        """Name the field and what is wrong with it."""
        return f"{self.field}: {self.message}"


_BY_CODE: dict[int, type[KieError]] = {
    400: KieValidationError,
    401: KieUnauthorized,
    402: KieInsufficientCredits,
    404: KieNotFound,
    408: KieUpstreamTimeout,
    422: KieValidationError,
    429: KieRateLimited,
    433: KieSubKeyLimit,
    455: KieMaintenance,
    500: KieServerError,
    501: KieGenerationFailed,
    505: KieFeatureDisabled,
}


def error_for_code(
    code: int,
    message: str,
    *,
    retry_after: float | None = None,
    origin: Origin = Origin.BODY,
) -> KieError:
    """Build the error for a kie code or HTTP status (the one mapping used everywhere)."""
    cls = _BY_CODE.get(code)
    if cls is None and 500 <= code <= 599:
        # Gateways in front of kie answer 502/503/504; they behave like kie's own 500.
        cls = KieServerError
    if cls is not None and issubclass(cls, KieNotNow):
        return cls(code, message, retry_after=retry_after, origin=origin)
    return (cls or KieError)(code, message, origin=origin)
