"""The kie.ai stand-in's edit model: `image_urls` checked, fetched when the task starts."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from imagine_standins.kie.fetch import MAX_IMAGE_BYTES
from imagine_standins.kie.server import Durations, FakeKie, ManualClock

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
EDIT = "bytedance/seedream-v4-edit"


def picture(image_format: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (10, 200, 90)).save(out, image_format)
    return out.getvalue()


@pytest.fixture
async def host() -> AsyncIterator[str]:
    """Where the member's pictures live: JPEG, PNG, WebP, a GIF, text, a huge file, a 404."""
    files = {
        "/a.jpg": picture("JPEG"),
        "/b.png": picture("PNG"),
        "/c.webp": picture("WEBP"),
        "/d.gif": picture("GIF"),
        "/e.txt": b"not an image at all",
        "/huge.png": picture("PNG") + b"\0" * MAX_IMAGE_BYTES,
    }

    async def serve(request: web.Request) -> web.Response:
        data = files.get(request.path)
        return web.Response(body=data) if data is not None else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{name}", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def kie() -> AsyncIterator[FakeKie]:
    async with FakeKie(clock=ManualClock(), durations=Durations(1, 1, 1)) as fake:
        yield fake


def edit_body(image_urls: Any = None, **changes: Any) -> dict[str, Any]:
    inp: dict[str, Any] = {
        "prompt": "make it snow",
        "image_size": "square_hd",
        "image_resolution": "1K",
        "max_images": 2,
    }
    if image_urls is not None:
        inp["image_urls"] = image_urls
    return {"model": EDIT, "input": {**inp, **changes}}


async def post(kie: FakeKie, body: dict[str, Any]) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(kie.base_url + "/api/v1/jobs/createTask", json=body, headers=AUTH) as resp,
    ):
        answer: dict[str, Any] = await resp.json()
        return answer


async def record(kie: FakeKie, task_id: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            kie.base_url + "/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=AUTH
        ) as resp,
    ):
        data: dict[str, Any] = (await resp.json())["data"]
        return data


@pytest.mark.parametrize(
    ("image_urls", "code", "msg"),
    [
        (None, 500, "This field is required"),
        ("http://x/a.png", 422, "image_urls must be an array of URLs"),
        ([], 422, "image_urls must hold 1 to 10 URLs"),
        (["http://x/a.png"] * 11, 422, "image_urls must hold 1 to 10 URLs"),
        (["http://x/a.png", "a.png"], 422, "image_urls[1] must be a valid http(s) URL"),
        ([42], 422, "image_urls[0] must be a valid http(s) URL"),
    ],
)
async def test_create_task_checks_image_urls(
    kie: FakeKie, image_urls: Any, code: int, msg: str
) -> None:
    """The edit model needs 1 to 10 http(s) URLs; kie's codes and words otherwise."""
    answer = await post(kie, edit_body(image_urls))
    assert (answer["code"], answer["msg"], answer["data"]) == (code, msg, None)
    assert kie.tasks_created() == []


async def test_text_to_image_takes_no_image_urls(kie: FakeKie) -> None:
    """image_urls is an unknown field for the text-to-image model."""
    body = edit_body(["http://x/a.png"])
    body["model"] = "bytedance/seedream-v4-text-to-image"
    answer = await post(kie, body)
    assert (answer["code"], answer["msg"]) == (422, "Unrecognized field: input.image_urls")


async def wait_fetched(kie: FakeKie, task_id: str) -> None:
    task = kie.task(task_id)
    for _ in range(500):
        if task.fetched and not task.fetching:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the task never fetched its image_urls")


async def test_a_task_fetches_its_images_when_it_starts_and_succeeds(
    kie: FakeKie, host: str
) -> None:
    """Every URL is fetched at once; with all three usable, the task runs as text-to-image does."""
    urls = [f"{host}/a.jpg", f"{host}/b.png", f"{host}/c.webp"]
    answer = await post(kie, edit_body(urls))
    task_id = answer["data"]["taskId"]
    await wait_fetched(kie, task_id)
    task = kie.task(task_id)
    assert [(f.status, f.format, f.ok) for f in task.fetched] == [
        (200, "JPEG", True),
        (200, "PNG", True),
        (200, "WEBP", True),
    ]
    assert isinstance(kie.clock, ManualClock)
    kie.clock.advance(5)
    data = await record(kie, task_id)
    assert data["state"] == "success" and data["model"] == EDIT
    assert json.loads(json.loads(data["param"])["input"])["image_urls"] == urls
    assert len(json.loads(data["resultJson"])["resultUrls"]) == 2
    assert data["creditsConsumed"] == 10


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("gone.png", "HTTP 404"),
        ("d.gif", "not a JPEG, PNG or WebP image (GIF)"),
        ("e.txt", "not a JPEG, PNG or WebP image (unreadable)"),
        ("huge.png", f"over {MAX_IMAGE_BYTES} bytes"),
    ],
)
async def test_an_unusable_image_fails_the_task_at_its_start(
    kie: FakeKie, host: str, name: str, why: str
) -> None:
    """kie's failure shape: state fail, a code and a message naming the entry, no credits."""
    answer = await post(kie, edit_body([f"{host}/a.jpg", f"{host}/{name}"]))
    task_id = answer["data"]["taskId"]
    await wait_fetched(kie, task_id)
    data = await record(kie, task_id)
    assert data["state"] == "fail"
    assert (data["failCode"], data["failMsg"]) == (
        "422",
        f"image_urls[1] could not be downloaded ({why})",
    )
    assert data["creditsConsumed"] == 0 and data["resultJson"] == ""
