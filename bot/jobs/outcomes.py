"""Every way a job can end badly, in words a member understands (no tracebacks, no codes)."""

from __future__ import annotations

from bot.kie import (
    KieError,
    KieFeatureDisabled,
    KieGenerationFailed,
    KieInsufficientCredits,
    KieMaintenance,
    KieRateLimited,
    KieRequestInvalid,
    KieServerError,
    KieSubKeyLimit,
    KieTaskNotFound,
    KieTransportError,
    KieUnauthorized,
    KieUpstreamTimeout,
    KieValidationError,
    TaskRecord,
)

__all__ = ["message_for_error", "message_for_failed_task"]

# Checked in order: subclasses before their parents.
_ERROR_MESSAGES: tuple[tuple[type[KieError], str], ...] = (
    (KieUnauthorized, "kie.ai refused this server's API key. Tell an admin to check KIE_API_KEY."),
    (
        KieInsufficientCredits,
        "The server's kie.ai balance is empty — tell an admin to top it up. Nothing was charged.",
    ),
    (
        KieUpstreamTimeout,
        "kie.ai's image service stalled and returned nothing for over 10 minutes. "
        "Please try again later.",
    ),
    (KieTaskNotFound, "kie.ai lost track of this request. Please try again."),
    (
        KieRequestInvalid,
        "kie.ai can't take that request as it stands. Check the options and try again.",
    ),
    (
        KieValidationError,
        "kie.ai refused the request as invalid. Try a different prompt or options.",
    ),
    (KieRateLimited, "kie.ai is busy right now (rate limit). Please try again in a minute."),
    (
        KieSubKeyLimit,
        "This server's kie.ai key has reached the usage cap its owner set. Tell an admin.",
    ),
    (KieMaintenance, "kie.ai is down for maintenance. Please try again later."),
    (KieServerError, "kie.ai had an internal error. Please try again."),
    (KieGenerationFailed, "kie.ai could not generate this image. Please try again."),
    (KieFeatureDisabled, "kie.ai has switched this model off for now. Tell an admin."),
    (KieTransportError, "kie.ai could not be reached. Please try again in a moment."),
)


def message_for_error(error: KieError) -> str:
    """Return the member-facing sentence for a kie error."""
    for kind, message in _ERROR_MESSAGES:
        if isinstance(error, kind):
            return message
    return "kie.ai answered with an error we don't know. Please try again later."


def message_for_failed_task(record: TaskRecord) -> str:
    """Return the member-facing sentence for a task kie reports as failed."""
    reason = (record.fail_msg or "").strip()
    lowered = reason.lower()
    if "prohibited" in lowered or "sensitive" in lowered or "nsfw" in lowered:
        return (
            "kie.ai's content filter refused this prompt. Rephrase it and try again; "
            "nothing was charged."
        )
    if record.fail_code == "422" or "invalid" in lowered:
        detail = f" ({reason[:200]})" if reason else ""
        return f"kie.ai refused the prompt{detail}. Nothing was charged."
    detail = f": {reason[:200]}" if reason else ""
    return f"kie.ai could not generate the image{detail}. Nothing was charged; try again."
