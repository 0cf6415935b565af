"""Typed requests and records for kie.ai's Seedream 4.0 jobs: text-to-image and edit.

The shapes and rules are those of docs/kie-api.md §3 (createTask), §3a (the edit model's
``image_urls``) and §4 (task records).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bot.kie.errors import KieRequestInvalid

__all__ = [
    "CREDITS_PER_IMAGE",
    "DEFAULT_MODEL",
    "EDIT_MODEL",
    "IMAGE_URL_MAX_BYTES",
    "IMAGE_URL_MIN_EDGE",
    "IMAGE_URL_TYPES",
    "MAX_IMAGES",
    "MAX_IMAGE_URLS",
    "MAX_PROMPT_CHARS",
    "CreateTaskRequest",
    "ImageSize",
    "Resolution",
    "TaskRecord",
    "TaskState",
]

DEFAULT_MODEL = "bytedance/seedream-v4-text-to-image"
# The sibling that starts from pictures: the same inputs plus image_urls (docs/kie-api.md §3a).
EDIT_MODEL = "bytedance/seedream-v4-edit"
MAX_IMAGE_URLS = 10
# What kie takes as an image_urls file: JPEG, PNG or WebP of at most "10MB" each (read as
# 10,000,000 bytes, the stricter reading), at least 15 pixels on each side (Seedream's own
# "> 14 px"). docs/kie-api.md §3a.
IMAGE_URL_TYPES = ("image/jpeg", "image/png", "image/webp")
IMAGE_URL_MAX_BYTES = 10_000_000
IMAGE_URL_MIN_EDGE = 15
MAX_PROMPT_CHARS = 5000
MAX_IMAGES = 6
# The catalogue price; the authoritative figure is creditsConsumed on the finished record.
CREDITS_PER_IMAGE = 5


class ImageSize(enum.StrEnum):
    """The nine ``image_size`` presets Seedream 4.0 accepts."""

    SQUARE = "square"
    SQUARE_HD = "square_hd"
    PORTRAIT_4_3 = "portrait_4_3"
    PORTRAIT_3_2 = "portrait_3_2"
    PORTRAIT_16_9 = "portrait_16_9"
    LANDSCAPE_4_3 = "landscape_4_3"
    LANDSCAPE_3_2 = "landscape_3_2"
    LANDSCAPE_16_9 = "landscape_16_9"
    LANDSCAPE_21_9 = "landscape_21_9"


class Resolution(enum.StrEnum):
    """The ``image_resolution`` values: the long edge is about 1024, 2048 or 4096 px."""

    R1K = "1K"
    R2K = "2K"
    R4K = "4K"


class TaskState(enum.StrEnum):
    """A Market task's ``state``, in lifecycle order."""

    WAITING = "waiting"
    QUEUING = "queuing"
    GENERATING = "generating"
    SUCCESS = "success"
    FAIL = "fail"

    @property
    def is_terminal(self) -> bool:
        """Return True once the task will not change any more."""
        return self in (TaskState.SUCCESS, TaskState.FAIL)


def _is_int(value: object) -> bool:
    """Return True for a real integer (bool is an int subclass but not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class CreateTaskRequest:
    """One createTask call for Seedream 4.0: text-to-image, or edit with ``image_urls``."""

    prompt: str
    image_size: ImageSize = ImageSize.SQUARE_HD
    image_resolution: Resolution = Resolution.R1K
    max_images: int = 1
    seed: int | None = None
    nsfw_checker: bool | None = None
    callback_url: str | None = None
    model: str = DEFAULT_MODEL
    # The edit model's reference images, fetched by kie when the task starts. Left out of
    # repr: they are links to members' pictures (often signed).
    image_urls: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def model_for(cls, image_urls: tuple[str, ...]) -> str:
        """Return the model a request with these reference images goes to."""
        return EDIT_MODEL if image_urls else DEFAULT_MODEL

    def validate(self) -> None:
        """Raise KieRequestInvalid for anything kie would refuse (docs/kie-api.md §3)."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise KieRequestInvalid("model", "must be a non-empty string")
        if not isinstance(self.prompt, str):
            raise KieRequestInvalid("prompt", "must be a string")
        length = len(self.prompt.strip())
        if length == 0:
            raise KieRequestInvalid("prompt", "must not be empty")
        if length > MAX_PROMPT_CHARS:
            raise KieRequestInvalid(
                "prompt", f"is {length} characters; the limit is {MAX_PROMPT_CHARS}"
            )
        if self.image_size not in ImageSize.__members__.values():
            raise KieRequestInvalid(
                "image_size", f"{self.image_size!r} is not one of {', '.join(ImageSize)}"
            )
        if self.image_resolution not in Resolution.__members__.values():
            raise KieRequestInvalid(
                "image_resolution",
                f"{self.image_resolution!r} is not one of {', '.join(Resolution)}",
            )
        if not _is_int(self.max_images) or not 1 <= self.max_images <= MAX_IMAGES:
            raise KieRequestInvalid(
                "max_images", f"must be an integer from 1 to {MAX_IMAGES}, not {self.max_images!r}"
            )
        if self.seed is not None and not _is_int(self.seed):
            raise KieRequestInvalid("seed", f"must be an integer or None, not {self.seed!r}")
        if self.nsfw_checker is not None and not isinstance(self.nsfw_checker, bool):
            raise KieRequestInvalid("nsfw_checker", "must be True, False or None")
        if self.callback_url is not None:
            if not isinstance(self.callback_url, str):
                raise KieRequestInvalid("callback_url", "must be a string URL")
            parts = urlsplit(self.callback_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise KieRequestInvalid("callback_url", "must be an absolute http(s) URL")
        self._validate_image_urls()

    def _validate_image_urls(self) -> None:
        """The edit model needs 1–10 absolute http(s) URLs; text-to-image takes none."""
        urls = self.image_urls
        if not isinstance(urls, tuple):
            raise KieRequestInvalid("image_urls", "must be a tuple of URLs")
        if self.model != EDIT_MODEL:
            if urls:
                raise KieRequestInvalid("image_urls", f"only {EDIT_MODEL} takes image_urls")
            return
        if not 1 <= len(urls) <= MAX_IMAGE_URLS:
            raise KieRequestInvalid(
                "image_urls", f"{EDIT_MODEL} needs 1 to {MAX_IMAGE_URLS} URLs, not {len(urls)}"
            )
        for i, url in enumerate(urls):
            parts = urlsplit(url) if isinstance(url, str) else None
            if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
                raise KieRequestInvalid("image_urls", f"entry {i} is not an absolute http(s) URL")

    def to_payload(self) -> dict[str, Any]:
        """Build the createTask JSON body (size, resolution and count always explicit)."""
        # kie may not apply its documented defaults server-side, so never rely on them.
        inputs: dict[str, Any] = {
            "prompt": self.prompt.strip(),
            "image_size": str(self.image_size),
            "image_resolution": str(self.image_resolution),
            "max_images": self.max_images,
        }
        if self.image_urls:
            inputs["image_urls"] = list(self.image_urls)
        if self.seed is not None:
            inputs["seed"] = self.seed
        if self.nsfw_checker is not None:
            inputs["nsfw_checker"] = self.nsfw_checker
        payload: dict[str, Any] = {"model": self.model, "input": inputs}
        if self.callback_url is not None:
            # callBackUrl belongs at the top level, not inside input.
            payload["callBackUrl"] = self.callback_url
        return payload


@dataclass(frozen=True)
class TaskRecord:
    """A task as recordInfo (or a callback) describes it (docs/kie-api.md §4)."""

    task_id: str
    model: str
    state: TaskState
    param: str
    result_urls: tuple[str, ...] = ()
    fail_code: str | None = None
    fail_msg: str | None = None
    cost_time: int | None = None  # seconds, not milliseconds; None when absent or nonsense
    create_time: int | None = None  # epoch milliseconds; None when absent or nonsense
    complete_time: int | None = None
    update_time: int | None = None
    # Exact, as kie reported it (0.8 and 5.5 occur): never a float, never truncated. 0 when
    # absent, and 0 (with a warning logged) when kie sent nonsense (docs/kie-api.md §4).
    credits_consumed: Decimal = Decimal(0)

    @property
    def is_terminal(self) -> bool:
        """Return True when the task has succeeded or failed."""
        return self.state.is_terminal
