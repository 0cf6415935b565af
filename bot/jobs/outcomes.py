"""The failure table: every way a job can end badly, each with its member-facing words.

The engine names a case (`Failure`), never a sentence; the stored `fail_code` is the case's
value and `fail_message` its English text. The Discord side renders the case's `message`
(a bot.i18n `Text`) in the reader's language. Nothing here is a traceback or a bare code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.i18n import Text, _
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

__all__ = ["Failed", "Failure", "failure_for_error", "failure_for_task", "partial"]


class Failure(StrEnum):
    """Why a job ended without images; the value is what `jobs.fail_code` stores."""

    # kie answered an API call with an error
    KEY_REFUSED = "key-refused"
    NO_CREDITS = "no-credits"
    KIE_STALLED = "kie-stalled"
    TASK_LOST = "task-lost"
    REQUEST_INVALID = "request-invalid"
    REQUEST_REFUSED = "request-refused"
    KIE_BUSY = "kie-busy"
    KEY_CAPPED = "key-capped"
    MAINTENANCE = "maintenance"
    KIE_INTERNAL = "kie-internal"
    GENERATION_FAILED = "generation-failed"
    MODEL_OFF = "model-off"
    KIE_UNREACHABLE = "kie-unreachable"
    KIE_ERROR = "kie-error"
    # kie ran the task and reports it failed
    CONTENT_REFUSED = "content-refused"
    PROMPT_REFUSED = "prompt-refused"
    TASK_FAILED = "task-failed"
    # an edit job's reference image could not be had (bot/jobs/references.py)
    REFERENCE_EXPIRED = "reference-expired"
    REFERENCE_UNREACHABLE = "reference-unreachable"
    # we stopped waiting, or could not tell
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"
    # the result could not be handed over
    NO_IMAGES = "no-images"
    DOWNLOAD = "download"
    TOO_LARGE = "too-large"
    UPLOAD_REFUSED = "upload-refused"
    CANNOT_POST = "cannot-post"
    NOT_POSTED = "not-posted"
    PARTIAL = "partial"
    # ours
    INTERNAL = "internal"
    CANCELLED = "cancelled"
    SHUTTING_DOWN = "shutting-down"

    def message(self, **params: object) -> Text:
        """Return the member-facing sentence, in no language yet, with `params`."""
        if self in _WITHOUT_REASON and not params.get("reason"):
            return _WITHOUT_REASON[self].with_params(**params)
        return _TEXT[self].with_params(**params)

    def text(self, **params: object) -> str:
        """Return the member-facing English sentence, with `params` filled in."""
        return str(self.message(**params))


_TEXT: Mapping[Failure, Text] = {
    Failure.KEY_REFUSED: _(
        "kie.ai refused this server's API key. Tell an admin to check KIE_API_KEY."
    ),
    Failure.NO_CREDITS: _(
        "The server's kie.ai balance is empty — tell an admin to top it up. Nothing was charged."
    ),
    Failure.KIE_STALLED: _(
        "kie.ai's image service stalled and returned nothing for over 10 minutes. "
        "Please try again later."
    ),
    Failure.TASK_LOST: _(
        "kie.ai has no record of this request any more. Nothing was charged to your quota."
    ),
    Failure.REQUEST_INVALID: _(
        "kie.ai can't take that request as it stands. Check the options and try again."
    ),
    Failure.REQUEST_REFUSED: _(
        "kie.ai refused the request as invalid. Try a different prompt or options."
    ),
    Failure.KIE_BUSY: _("kie.ai is busy right now (rate limit). Please try again in a minute."),
    Failure.KEY_CAPPED: _(
        "This server's kie.ai key has reached the usage cap its owner set. Tell an admin."
    ),
    Failure.MAINTENANCE: _("kie.ai is down for maintenance. Please try again later."),
    Failure.KIE_INTERNAL: _("kie.ai had an internal error. Please try again."),
    Failure.GENERATION_FAILED: _("kie.ai could not generate this image. Please try again."),
    Failure.MODEL_OFF: _("kie.ai has switched this model off for now. Tell an admin."),
    Failure.KIE_UNREACHABLE: _("kie.ai could not be reached. Please try again in a moment."),
    Failure.KIE_ERROR: _("kie.ai answered with an error we don't know. Please try again later."),
    Failure.CONTENT_REFUSED: _(
        "kie.ai's content filter refused this prompt. Rephrase it and try again; "
        "nothing was charged."
    ),
    Failure.PROMPT_REFUSED: _("kie.ai refused the prompt ({reason}). Nothing was charged."),
    Failure.TASK_FAILED: _(
        "kie.ai could not generate the image: {reason}. Nothing was charged; try again."
    ),
    Failure.REFERENCE_EXPIRED: _(
        "The link to {name} expired before kie.ai could fetch it (Discord's attachment links "
        "don't last). Nothing was charged; please {again}."
    ),
    Failure.REFERENCE_UNREACHABLE: _(
        "kie.ai could not fetch {name}: Discord's link to it has expired or the file is gone. "
        "Nothing was charged; please {again}."
    ),
    Failure.TIMEOUT: _(
        "kie.ai did not finish within {minutes} minutes, so we stopped waiting. "
        "Nothing was charged to your quota."
    ),
    Failure.UNKNOWN: _(
        "kie.ai did not confirm the request, so it was not retried (that could pay "
        "twice). Nothing was taken from your quota; please try again."
    ),
    Failure.NO_IMAGES: _(
        "kie.ai finished but returned no images. Nothing was charged to your quota."
    ),
    Failure.DOWNLOAD: _(
        "The images could not be downloaded from kie.ai. Nothing was charged to your quota."
    ),
    Failure.TOO_LARGE: _(
        "The images could not be made small enough for this server's upload limit. "
        "Nothing was charged to your quota."
    ),
    Failure.UPLOAD_REFUSED: _("Discord refused the upload as too large even after shrinking it."),
    Failure.CANNOT_POST: _("I can't post in that channel (missing Send Messages or Attach Files)."),
    Failure.NOT_POSTED: _(
        "The images were made but could not be posted here. Nothing was charged to your quota."
    ),
    # A result of one image can't be partial: {total} is at least 2.
    Failure.PARTIAL: _(
        "Only {posted} of the {total} images could be posted: {reason}. "
        "Your quota was charged for {posted}."
    ),
    Failure.INTERNAL: _("Something went wrong on our side. Nothing was charged."),
    Failure.CANCELLED: _("Nothing was charged to your quota."),
    Failure.SHUTTING_DOWN: _("The bot is restarting; please try again in a minute."),
}

# The same sentences when kie gave no reason.
_WITHOUT_REASON: Mapping[Failure, Text] = {
    Failure.PROMPT_REFUSED: _("kie.ai refused the prompt. Nothing was charged."),
    Failure.TASK_FAILED: _("kie.ai could not generate the image. Nothing was charged; try again."),
}


@dataclass(frozen=True, slots=True)
class Failed:
    """A failure case with the values its sentence needs."""

    failure: Failure
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def message(self) -> Text:
        """Return the sentence, for the Discord side to render in the job's language."""
        return self.failure.message(**self.params)

    @property
    def text(self) -> str:
        """Return the English sentence (the jobs table keeps it)."""
        return str(self.message)


# Why the rest of a result could not follow, as the end of a PARTIAL sentence.
_PARTIAL_REASONS: Mapping[Failure, Text] = {
    Failure.DOWNLOAD: _("the others could not be downloaded from kie.ai"),
    Failure.TOO_LARGE: _("the others could not be made small enough for this server"),
    Failure.UPLOAD_REFUSED: _("Discord refused the others as too large"),
    Failure.CANNOT_POST: _(
        "I can't post the others in this channel (missing Send Messages or Attach Files)"
    ),
    Failure.NOT_POSTED: _("the others could not be posted here"),
}


def partial(posted: int, total: int, why: Failure) -> Failed:
    """Return the case for a result of which only `posted` of `total` images reached the member."""
    reason = _PARTIAL_REASONS.get(why, _("the others could not be delivered"))
    return Failed(Failure.PARTIAL, {"posted": posted, "total": total, "reason": reason})


# Checked in order: subclasses before their parents.
_FOR_ERROR: tuple[tuple[type[KieError], Failure], ...] = (
    (KieUnauthorized, Failure.KEY_REFUSED),
    (KieInsufficientCredits, Failure.NO_CREDITS),
    (KieUpstreamTimeout, Failure.KIE_STALLED),
    (KieTaskNotFound, Failure.TASK_LOST),
    (KieRequestInvalid, Failure.REQUEST_INVALID),
    (KieValidationError, Failure.REQUEST_REFUSED),
    (KieRateLimited, Failure.KIE_BUSY),
    (KieSubKeyLimit, Failure.KEY_CAPPED),
    (KieMaintenance, Failure.MAINTENANCE),
    (KieServerError, Failure.KIE_INTERNAL),
    (KieGenerationFailed, Failure.GENERATION_FAILED),
    (KieFeatureDisabled, Failure.MODEL_OFF),
    (KieTransportError, Failure.KIE_UNREACHABLE),
)


def failure_for_error(error: KieError) -> Failed:
    """Return the case for a kie error answer."""
    for kind, failure in _FOR_ERROR:
        if isinstance(error, kind):
            return Failed(failure)
    return Failed(Failure.KIE_ERROR)


def failure_for_task(record: TaskRecord) -> Failed:
    """Return the case for a task kie reports as failed."""
    reason = (record.fail_msg or "").strip()
    lowered = reason.lower()
    if "prohibited" in lowered or "sensitive" in lowered or "nsfw" in lowered:
        return Failed(Failure.CONTENT_REFUSED)
    if record.fail_code == "422" or "invalid" in lowered:
        return Failed(Failure.PROMPT_REFUSED, {"reason": reason[:200]})
    return Failed(Failure.TASK_FAILED, {"reason": reason[:200]})
