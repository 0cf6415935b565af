"""Reference images: the pictures an edit job starts from.

They are Discord attachments: /imagine's `image`, `image2` and `image3` options, or the
result image an Edit click picked. kie fetches them itself, from their own URLs, when the
task starts (docs/kie-api.md §3a). This module is the one home of every question about them:

- what a reference is, and how it is kept with its job (`Reference`; the jobs table's
  `reference_images`, V7), so a resumed job and a Reroll send the same images again;
- whether kie will take it (`problem`): JPEG, PNG or WebP by Discord's `content_type` and
  by the file's own first bytes, at most `IMAGE_URL_MAX_BYTES`, at least
  `IMAGE_URL_MIN_EDGE` pixels on each side, and a link that still works;
- when its link dies (`expires_at`): Discord's attachment links carry their expiry in the
  `ex` query parameter (hex Unix seconds) and answer 404 after it;
- what the member is told when kie failed an edit task because it could not fetch one
  (`failure_for_task`), instead of kie's bare failure code.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields
from urllib.parse import parse_qs, urlsplit

from bot.i18n import Text, _
from bot.images import ImageError
from bot.images.peek import ImageHead
from bot.jobs.outcomes import Failed, Failure
from bot.jobs.outcomes import failure_for_task as failure_for_record
from bot.kie import IMAGE_URL_MAX_BYTES, IMAGE_URL_MIN_EDGE, IMAGE_URL_TYPES, TaskRecord

__all__ = [
    "ADMIT_MARGIN",
    "OPTIONS",
    "SUBMIT_MARGIN",
    "Peek",
    "Reference",
    "decode",
    "encode",
    "expired",
    "expired_failure",
    "expires_at",
    "failure_for_task",
    "problem",
]

# /imagine's attachment options, in the order their images reach kie.
OPTIONS = ("image", "image2", "image3")
# A link that dies this soon counts as dead: when a request is admitted (it may wait in
# line), and when its createTask is about to go (kie fetches when the task starts).
ADMIT_MARGIN = 5 * 60.0
SUBMIT_MARGIN = 30.0

# Read the first bytes of the file at a URL; raise an ImageError when it can't be had.
Peek = Callable[[str], Awaitable[ImageHead]]


@dataclass(frozen=True, slots=True)
class Reference:
    """One reference image of a job, as Discord described the attachment."""

    option: str  # "image", "image2" or "image3" (an Edit's one image is "image")
    url: str  # what kie fetches: the attachment's own (signed, expiring) link
    filename: str
    size: int
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    proxy_url: str | None = None  # Discord's media proxy: for the small previews
    # An Edit's image: which image (1-based) of the earlier result it is.
    result_image: int | None = None

    def __repr__(self) -> str:
        """Name it without its signed link."""
        return f"Reference({self.option!r}, {self.filename!r}, {self.size} bytes)"

    @property
    def name(self) -> Text | str:
        """Return how the member's messages name it: the option, or the result image."""
        if self.result_image is not None:
            return _("image {n} of the earlier result", n=self.result_image)
        return f"`{self.option}`"

    @property
    def again(self) -> Text:
        """Return how the member gives the picture anew, as the end of a sentence."""
        if self.result_image is not None:
            return _("click Edit on the result again")
        return _("attach the image again with /imagine")


def encode(references: Sequence[Reference]) -> str | None:
    """Return the JSON the jobs table keeps (None: not an edit job)."""
    if not references:
        return None
    return json.dumps([asdict(r) for r in references], ensure_ascii=False)


def decode(stored: str | None) -> tuple[Reference, ...]:
    """Return the references kept as `encode` wrote them."""
    if not stored:
        return ()
    known = {f.name for f in fields(Reference)}
    return tuple(
        Reference(**{k: v for k, v in entry.items() if k in known}) for entry in json.loads(stored)
    )


def expires_at(url: str) -> float | None:
    """Return when a Discord attachment link stops working (None: it doesn't say)."""
    values = parse_qs(urlsplit(url).query).get("ex")
    if not values:
        return None
    try:
        return float(int(values[0], 16))
    except ValueError:
        return None


def expired(
    references: Sequence[Reference], now: float, *, margin: float = SUBMIT_MARGIN
) -> Reference | None:
    """Return the first reference whose link is dead, or dies within `margin` seconds."""
    for reference in references:
        ends = expires_at(reference.url)
        if ends is not None and ends <= now + margin:
            return reference
    return None


def _declared_problem(reference: Reference) -> Text | None:
    """Check what Discord says about the file: its type, size and pixel size."""
    name = reference.name
    kind = (reference.content_type or "").split(";")[0].strip().lower()
    if kind and kind not in IMAGE_URL_TYPES:
        return _(
            "{name} is `{content_type}`, not a JPEG, PNG or WebP image; kie.ai takes only those.",
            name=name,
            content_type=kind,
        )
    if reference.size > IMAGE_URL_MAX_BYTES:
        return _(
            "{name} is {size} MB; kie.ai takes images of at most {most} MB.",
            name=name,
            size=f"{reference.size / 1_000_000:.1f}",
            most=IMAGE_URL_MAX_BYTES // 1_000_000,
        )
    return _edges_problem(reference, reference.width, reference.height)


def _edges_problem(reference: Reference, width: int | None, height: int | None) -> Text | None:
    if width is None or height is None or min(width, height) >= IMAGE_URL_MIN_EDGE:
        return None
    return _(
        "{name} is only {width}×{height} pixels; kie.ai needs at least {least} pixels on "
        "each side.",
        name=reference.name,
        width=width,
        height=height,
        least=IMAGE_URL_MIN_EDGE,
    )


def _gone(reference: Reference) -> Text:
    return _(
        "{name} can no longer be fetched: Discord's link to it has expired or the file is gone. "
        "Please {again}.",
        name=reference.name,
        again=reference.again,
    )


def _head_problem(reference: Reference, head: ImageHead) -> Text | None:
    """Check what the file's own first bytes say."""
    if head.content_type is None:
        if head.format is None:
            return _(
                "{name} is not a JPEG, PNG or WebP image; kie.ai takes only those.",
                name=reference.name,
            )
        return _(
            "{name} is really a {found} image, not a JPEG, PNG or WebP; kie.ai takes only those.",
            name=reference.name,
            found=head.format,
        )
    # Discord's figures win when it gave them; the bytes speak only for a file it didn't.
    if reference.width is None or reference.height is None:
        return _edges_problem(reference, head.width, head.height)
    return None


async def problem(
    reference: Reference, *, now: float, peek: Peek | None, margin: float = ADMIT_MARGIN
) -> Text | None:
    """Return why kie can't take this reference (naming it), or None when it can.

    Discord's description is checked first; then, with `peek`, the file's own bytes, which
    also prove the link still works.
    """
    declared = _declared_problem(reference)
    if declared is not None:
        return declared
    if expired([reference], now, margin=margin) is not None:
        return _gone(reference)
    if peek is None:
        return None
    try:
        head = await peek(reference.url)
    except ImageError:
        return _gone(reference)
    return _head_problem(reference, head)


async def failure_for_task(
    references: Sequence[Reference], record: TaskRecord, *, peek: Peek | None
) -> Failed:
    """Return what to tell the member about a task kie failed.

    kie does not document how it reports an `image_urls` entry it could not fetch, so for an
    edit job the bot looks at every reference itself: one that can no longer be had (or is
    no image) is named, with what to do; otherwise kie's own failure stands.
    """
    if references and peek is not None:
        looks = await asyncio.gather(*(_fetchable(reference, peek) for reference in references))
        for reference, ok in zip(references, looks, strict=True):
            if not ok:
                return _reference_failure(reference, Failure.REFERENCE_UNREACHABLE)
    return failure_for_record(record)


def expired_failure(reference: Reference) -> Failed:
    """Return the failure for a job whose reference link died before kie could fetch it."""
    return _reference_failure(reference, Failure.REFERENCE_EXPIRED)


def _reference_failure(reference: Reference, failure: Failure) -> Failed:
    return Failed(failure, {"name": reference.name, "again": reference.again})


async def _fetchable(reference: Reference, peek: Peek) -> bool:
    try:
        head = await peek(reference.url)
    except ImageError:
        return False
    return head.content_type is not None
