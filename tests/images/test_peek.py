"""Peeking at a reference image: the format from its own bytes, the size from its header."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.images import DownloadFailed, HostNotAllowed
from bot.images.peek import PEEK_BYTES, ImageHead, peek_image, read_head, sniff_format
from tests.images.pictures import encode, noise_image

PNG = encode(noise_image(40, 30, seed=1), "PNG")
JPEG = encode(noise_image(400, 300, seed=2), "JPEG", quality=90)
WEBP = encode(noise_image(64, 16, seed=3), "WEBP")
GIF = encode(noise_image(20, 20, seed=4), "GIF")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PNG, ImageHead("PNG", 40, 30)),
        (JPEG, ImageHead("JPEG", 400, 300)),
        (WEBP, ImageHead("WEBP", 64, 16)),
        (GIF, ImageHead("GIF", 20, 20)),
        (b"<!doctype html><p>This content is no longer available.", ImageHead(None)),
        (b"", ImageHead(None)),
        # A JPEG whose header was cut before its size: the format still shows.
        (JPEG[:20], ImageHead("JPEG")),
    ],
)
def test_read_head_trusts_the_bytes(data: bytes, expected: ImageHead) -> None:
    """The signature names the format; the pixel size comes when the header holds it."""
    assert read_head(data) == expected
    assert sniff_format(data) == expected.format


def test_only_jpeg_png_and_webp_have_a_content_type() -> None:
    """A GIF is an image, but not one kie takes."""
    assert [ImageHead(f).content_type for f in ("JPEG", "PNG", "WEBP", "GIF", None)] == [
        "image/jpeg",
        "image/png",
        "image/webp",
        None,
        None,
    ]


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[str | None]]]:
    """Serves /png (honouring Range), /big (ignoring it), /gone (404) and /moved (302)."""
    ranges: list[str | None] = []
    big = PNG + b"\0" * (3 * PEEK_BYTES)

    async def png(request: web.Request) -> web.Response:
        ranges.append(request.headers.get("Range"))
        return web.Response(body=PNG[:PEEK_BYTES], status=206, content_type="image/png")

    async def whole(request: web.Request) -> web.Response:
        ranges.append(request.headers.get("Range"))
        return web.Response(body=big, content_type="image/png")

    async def gone(request: web.Request) -> web.Response:
        return web.Response(status=404, text="This content is no longer available.")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/png")

    app = web.Application()
    app.router.add_get("/png", png)
    app.router.add_get("/big", whole)
    app.router.add_get("/gone", gone)
    app.router.add_get("/moved", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", ranges
    await runner.cleanup()


async def peek(url: str, **options: object) -> ImageHead:
    async with aiohttp.ClientSession() as session:
        return await peek_image(
            session,
            url,
            allowed_hosts=("127.0.0.1",),
            user_agent="test",
            **options,  # type: ignore[arg-type]
        )


async def test_peek_asks_for_the_head_only(server: tuple[str, list[str | None]]) -> None:
    """One ranged GET; a server that sends everything anyway is cut off at the limit."""
    base, ranges = server
    assert await peek(f"{base}/png") == ImageHead("PNG", 40, 30)
    assert await peek(f"{base}/big") == ImageHead("PNG", 40, 30)
    assert ranges == [f"bytes=0-{PEEK_BYTES - 1}"] * 2


async def test_a_dead_link_or_a_redirect_cannot_be_had(
    server: tuple[str, list[str | None]],
) -> None:
    """An expired link's 404 and any redirect are DownloadFailed (redirects are not followed)."""
    base, _ = server
    with pytest.raises(DownloadFailed, match="HTTP 404"):
        await peek(f"{base}/gone?ex=1&hm=SECRET")
    with pytest.raises(DownloadFailed, match="HTTP 302"):
        await peek(f"{base}/moved")


async def test_only_allowed_hosts_are_read() -> None:
    """A URL off Discord's CDN is never fetched."""
    with pytest.raises(HostNotAllowed):
        await peek("http://evil.example/cat.png")
