"""Tests for the request and state types."""

from __future__ import annotations

from typing import Any

import pytest

from bot.kie import (
    DEFAULT_MODEL,
    EDIT_MODEL,
    CreateTaskRequest,
    ImageSize,
    KieRequestInvalid,
    Resolution,
    TaskState,
)


def test_enums_hold_the_documented_values() -> None:
    """The enums carry exactly kie's nine sizes, three resolutions and five states."""
    assert [str(s) for s in ImageSize] == [
        "square",
        "square_hd",
        "portrait_4_3",
        "portrait_3_2",
        "portrait_16_9",
        "landscape_4_3",
        "landscape_3_2",
        "landscape_16_9",
        "landscape_21_9",
    ]
    assert [str(r) for r in Resolution] == ["1K", "2K", "4K"]
    assert [str(s) for s in TaskState] == ["waiting", "queuing", "generating", "success", "fail"]


@pytest.mark.parametrize(
    ("state", "terminal"),
    [
        (TaskState.WAITING, False),
        (TaskState.QUEUING, False),
        (TaskState.GENERATING, False),
        (TaskState.SUCCESS, True),
        (TaskState.FAIL, True),
    ],
)
def test_is_terminal(state: TaskState, terminal: bool) -> None:
    """Only success and fail are terminal."""
    assert state.is_terminal is terminal


VALID: dict[str, Any] = {"prompt": "a red fox"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   \n\t "}, "prompt"),
        ({"prompt": "x" * 5001}, "prompt"),
        ({"prompt": None}, "prompt"),
        ({"image_size": "1:1"}, "image_size"),
        ({"image_size": "SQUARE"}, "image_size"),
        ({"image_resolution": "8K"}, "image_resolution"),
        ({"image_resolution": "1k"}, "image_resolution"),
        ({"max_images": 0}, "max_images"),
        ({"max_images": 7}, "max_images"),
        ({"max_images": True}, "max_images"),
        ({"max_images": 2.0}, "max_images"),
        ({"max_images": "2"}, "max_images"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "42"}, "seed"),
        ({"seed": False}, "seed"),
        ({"nsfw_checker": "yes"}, "nsfw_checker"),
        ({"nsfw_checker": 1}, "nsfw_checker"),
        ({"callback_url": "ftp://example.com/cb"}, "callback_url"),
        ({"callback_url": "/kie/callback/x"}, "callback_url"),
        ({"model": ""}, "model"),
    ],
)
def test_validate_refuses(changes: dict[str, Any], field: str) -> None:
    """Each invalid field raises KieRequestInvalid naming that field."""
    req = CreateTaskRequest(**{**VALID, **changes})
    with pytest.raises(KieRequestInvalid) as info:
        req.validate()
    assert info.value.field == field
    assert info.value.code is None
    assert field in str(info.value)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"prompt": "x" * 5000},
        {"prompt": "  " + "x" * 5000 + "  "},
        {"prompt": "y"},
        {"max_images": 1},
        {"max_images": 6},
        {"seed": -88165251},
        {"seed": 0},
        {"seed": 50331296},
        {"nsfw_checker": False},
        {"nsfw_checker": True},
        {"image_size": "landscape_21_9", "image_resolution": "4K"},
        {"image_size": ImageSize.PORTRAIT_3_2, "image_resolution": Resolution.R2K},
        {"callback_url": "https://bot.example.com/kie/callback/abc"},
    ],
)
def test_validate_accepts(changes: dict[str, Any]) -> None:
    """Values inside kie's documented ranges pass validation."""
    CreateTaskRequest(**{**VALID, **changes}).validate()


def test_to_payload_is_explicit_and_puts_callback_on_top() -> None:
    """The payload always names size, resolution and count, and callBackUrl is top-level."""
    req = CreateTaskRequest(
        prompt="  a fox  ",
        image_size=ImageSize.LANDSCAPE_16_9,
        image_resolution=Resolution.R2K,
        max_images=3,
        seed=-7,
        nsfw_checker=True,
        callback_url="https://bot.example.com/kie/callback/t0k3n",
    )
    assert req.to_payload() == {
        "model": DEFAULT_MODEL,
        "callBackUrl": "https://bot.example.com/kie/callback/t0k3n",
        "input": {
            "prompt": "a fox",
            "image_size": "landscape_16_9",
            "image_resolution": "2K",
            "max_images": 3,
            "seed": -7,
            "nsfw_checker": True,
        },
    }


def test_to_payload_defaults_are_sent_explicitly() -> None:
    """Defaults are sent, and unset optional fields are left out."""
    payload = CreateTaskRequest(prompt="cat").to_payload()
    assert payload == {
        "model": "bytedance/seedream-v4-text-to-image",
        "input": {
            "prompt": "cat",
            "image_size": "square_hd",
            "image_resolution": "1K",
            "max_images": 1,
        },
    }
    assert type(payload["input"]["image_size"]) is str


# -- the edit model (docs/kie-api.md §3a) -----------------------------------------------------

REF = "https://cdn.discordapp.com/ephemeral-attachments/1/2/cat.png?ex=68c0ffee&is=68bfaa6e&hm=ab"


def edit_request(**changes: Any) -> CreateTaskRequest:
    return CreateTaskRequest(**{"prompt": "make it snow", **changes})


def test_model_for_picks_edit_only_with_reference_images() -> None:
    """A request with image_urls goes to the edit model; without, to text-to-image."""
    assert CreateTaskRequest.model_for(()) == DEFAULT_MODEL
    assert CreateTaskRequest.model_for((REF,)) == EDIT_MODEL == "bytedance/seedream-v4-edit"


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"model": EDIT_MODEL}, "needs 1 to 10"),
        ({"model": EDIT_MODEL, "image_urls": (REF,) * 11}, "needs 1 to 10"),
        ({"model": EDIT_MODEL, "image_urls": ("/relative.png",)}, "entry 0"),
        ({"model": EDIT_MODEL, "image_urls": (REF, "ftp://x/y.png")}, "entry 1"),
        ({"model": EDIT_MODEL, "image_urls": [REF]}, "tuple"),
        ({"image_urls": (REF,)}, "only bytedance/seedream-v4-edit"),
    ],
)
def test_image_urls_are_checked_for_their_model(changes: dict[str, Any], words: str) -> None:
    """The edit model needs 1–10 absolute http(s) URLs; text-to-image takes none."""
    with pytest.raises(KieRequestInvalid) as info:
        edit_request(**changes).validate()
    assert info.value.field == "image_urls"
    assert words in str(info.value)


def test_edit_payload_carries_image_urls_and_every_other_input() -> None:
    """image_urls joins the same inputs as text-to-image, in the order given."""
    urls = (REF, REF.replace("cat", "dog"), "https://media.discordapp.net/a/b/c.webp")
    req = edit_request(
        model=EDIT_MODEL,
        image_urls=urls,
        image_size=ImageSize.PORTRAIT_4_3,
        image_resolution=Resolution.R4K,
        max_images=2,
        seed=42,
        nsfw_checker=True,
    )
    req.validate()
    assert req.to_payload() == {
        "model": EDIT_MODEL,
        "input": {
            "prompt": "make it snow",
            "image_size": "portrait_4_3",
            "image_resolution": "4K",
            "max_images": 2,
            "image_urls": list(urls),
            "seed": 42,
            "nsfw_checker": True,
        },
    }


def test_repr_leaves_the_signed_links_out() -> None:
    """Members' picture links are not written into logs through the request's repr."""
    assert "hm=" not in repr(edit_request(model=EDIT_MODEL, image_urls=(REF,)))
