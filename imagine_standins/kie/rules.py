"""What the kie.ai stand-in accepts: createTask validation and the signing rule.

Written independently of ``bot.kie`` on purpose: a stand-in that shared the client's code
would agree with the client's bugs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from imagine_standins.kie.records import CREDITS_PER_IMAGE

__all__ = [
    "CREDITS_PER_IMAGE",
    "EDIT_MODEL",
    "IMAGE_SIZES",
    "KNOWN_MODELS",
    "MAX_IMAGE_URLS",
    "RESOLUTIONS",
    "validate_create_body",
    "webhook_signature",
]

TEXT_TO_IMAGE_MODEL = "bytedance/seedream-v4-text-to-image"
# Seedream 4.0's sibling: text-to-image's inputs plus the required image_urls.
EDIT_MODEL = "bytedance/seedream-v4-edit"
KNOWN_MODELS = frozenset({TEXT_TO_IMAGE_MODEL, EDIT_MODEL})
MAX_IMAGE_URLS = 10
IMAGE_SIZES = (
    "square",
    "square_hd",
    "portrait_4_3",
    "portrait_3_2",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_3_2",
    "landscape_16_9",
    "landscape_21_9",
)
RESOLUTIONS = ("1K", "2K", "4K")
MAX_PROMPT = 5000
TOP_LEVEL_KEYS = frozenset({"model", "callBackUrl", "input"})
INPUT_KEYS = frozenset(
    {"prompt", "image_size", "image_resolution", "max_images", "seed", "nsfw_checker"}
)
# The input fields each model knows.
MODEL_INPUT_KEYS = {TEXT_TO_IMAGE_MODEL: INPUT_KEYS, EDIT_MODEL: INPUT_KEYS | {"image_urls"}}
REQUIRED = "This field is required"
UNKNOWN_MODEL = "The page does not exist or is not published"


def _is_int(value: object) -> bool:
    """Return True for a JSON integer (true/false are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def validate_create_body(body: Any, *, require_all: bool = True) -> tuple[int, str] | None:
    """Return (code, msg) for the first problem in a createTask body, or None if it is fine."""
    if not isinstance(body, dict):
        return 422, "Request body must be a JSON object"
    for key in body:
        if key not in TOP_LEVEL_KEYS:
            return 422, f"Unrecognized field: {key}"
    # Live kie answers a missing required field with code 500, not 422.
    if "model" not in body:
        return 500, REQUIRED
    if not isinstance(body["model"], str) or body["model"] not in KNOWN_MODELS:
        return 422, UNKNOWN_MODEL
    if "callBackUrl" in body:
        url = body["callBackUrl"]
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            return 422, "callBackUrl must be a valid http(s) URL"
    if "input" not in body:
        return 500, REQUIRED
    inp = body["input"]
    if not isinstance(inp, dict):
        return 422, "input must be an object"
    for key in inp:
        if key not in MODEL_INPUT_KEYS[body["model"]]:
            return 422, f"Unrecognized field: input.{key}"
    required = (
        ("prompt", "image_size", "image_resolution", "max_images") if require_all else ("prompt",)
    )
    if body["model"] == EDIT_MODEL:
        required = (*required, "image_urls")  # required whatever require_all says
    for key in required:
        if key not in inp:
            return 500, REQUIRED
    prompt = inp["prompt"]
    if not isinstance(prompt, str):
        return 422, "prompt must be a string"
    if not prompt.strip():
        return 422, "prompt must not be empty"
    if len(prompt) > MAX_PROMPT:
        return 422, f"prompt must be at most {MAX_PROMPT} characters"
    if "image_size" in inp and inp["image_size"] not in IMAGE_SIZES:
        return 422, f"image_size must be one of {', '.join(IMAGE_SIZES)}"
    if "image_resolution" in inp and inp["image_resolution"] not in RESOLUTIONS:
        return 422, f"image_resolution must be one of {', '.join(RESOLUTIONS)}"
    if "max_images" in inp:
        n = inp["max_images"]
        if not _is_int(n) or not 1 <= n <= 6:
            return 422, "max_images must be an integer from 1 to 6"
    if "seed" in inp and not _is_int(inp["seed"]):
        return 422, "seed must be an integer"
    if "nsfw_checker" in inp and not isinstance(inp["nsfw_checker"], bool):
        return 422, "nsfw_checker must be a boolean"
    if "image_urls" in inp:
        return _image_urls_problem(inp["image_urls"])
    return None


def _image_urls_problem(urls: Any) -> tuple[int, str] | None:
    """The edit model's image_urls: an array of 1 to 10 absolute http(s) URLs.

    Whether each one is really a JPEG, PNG or WebP of at most 10 MB is only learnt when the
    task starts and fetches them (``fetch.py``), as on kie.
    """
    if not isinstance(urls, list):
        return 422, "image_urls must be an array of URLs"
    if not 1 <= len(urls) <= MAX_IMAGE_URLS:
        return 422, f"image_urls must hold 1 to {MAX_IMAGE_URLS} URLs"
    for i, url in enumerate(urls):
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            return 422, f"image_urls[{i}] must be a valid http(s) URL"
    return None


def webhook_signature(key: str, task_id: str, timestamp: str) -> str:
    """Sign a callback the way kie documents it: base64 HMAC-SHA256 of "taskId.timestamp"."""
    digest = hmac.new(key.encode(), f"{task_id}.{timestamp}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()
