"""Downloading result images from a local server: hosts, redirects, caps, timeouts, bytes."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from bot.images.download import MAX_REDIRECTS, DownloadedImage, download_all, download_image
from bot.images.errors import (
    DownloadFailed,
    DownloadStalled,
    HostNotAllowed,
    NotAnImage,
    TooLarge,
)
from tests.images.pictures import encode, noise_image

KIE_HOSTS = ("aiquickdraw.com", "redpandaai.co")
USER_AGENT = "imagine-bot-tests/1.0"
CAP = 64 * 1024


class LoopbackResolver(AbstractResolver):
    """Resolve every name to 127.0.0.1, so any host name reaches the test server."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Answer 127.0.0.1 for any name."""
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        """Release nothing: the resolver holds no resources."""


@dataclass
class Cdn:
    """A stand-in for kie's file host: what it served, and how to reach it."""

    port: int
    jpeg: bytes
    big_jpeg: bytes = b""
    hits: list[tuple[str, str]] = field(default_factory=list)
    user_agents: list[str] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    def url(self, host: str, path: str) -> str:
        """Return an http URL on the test server under the given host name."""
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    """A small, valid JPEG served by the fake CDN."""
    return encode(noise_image(96, 64, seed=21), "JPEG", quality=90)


@pytest.fixture(scope="module")
def big_jpeg() -> bytes:
    """A JPEG of about 400 KB, long enough to stream over several short stall windows."""
    return encode(noise_image(400, 300, seed=22), "JPEG", quality=95)


@pytest.fixture
async def cdn(jpeg: bytes, big_jpeg: bytes) -> AsyncIterator[Cdn]:
    """Run a fake CDN on 127.0.0.1 whose slow handlers are released at teardown."""
    release = asyncio.Event()
    state = Cdn(port=0, jpeg=jpeg, big_jpeg=big_jpeg)

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        state.hits.append((request.host.split(":")[0], request.path))
        state.user_agents.append(request.headers.get("User-Agent", ""))
        return await handler(request)

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def png(request: web.Request) -> web.Response:
        return web.Response(
            body=encode(noise_image(40, 30, seed=2), "PNG"), content_type="image/png"
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound()

    async def html(request: web.Request) -> web.Response:
        # Lies about its type, as a misconfigured CDN error page might.
        return web.Response(body=b"<html>Access denied</html>", content_type="image/jpeg")

    async def truncated(request: web.Request) -> web.Response:
        return web.Response(body=jpeg[: len(jpeg) // 2], content_type="image/jpeg")

    async def declared_huge(request: web.Request) -> web.StreamResponse:
        # Announce a gigabyte, then send nothing: only an early refusal avoids the timeout.
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = 10**9
        await response.prepare(request)
        await release.wait()
        return response

    async def streamed_huge(request: web.Request) -> web.StreamResponse:
        # No Content-Length: a little over the cap, then stall, so only counting bytes
        # as they arrive can stop the download before the timeout.
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(CAP // 4096 + 2):
            await response.write(b"\xff" * 4096)
        await release.wait()
        return response

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(body=jpeg, content_type="image/jpeg")

    async def stall(request: web.Request) -> web.StreamResponse:
        # A few bytes of the image, then nothing, with the connection left open.
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(jpeg)
        await response.prepare(request)
        await response.write(jpeg[:100])
        await release.wait()
        return response

    async def trickle(request: web.Request) -> web.StreamResponse:
        # Ten bytes every 10 ms (1 KB/s): never stops, never gets anywhere.
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(jpeg)
        await response.prepare(request)
        for start in range(0, len(jpeg), 10):
            await response.write(jpeg[start : start + 10])
            await asyncio.sleep(0.01)
        return response

    async def steady(request: web.Request) -> web.StreamResponse:
        # 16 KiB every 5 ms (over 1 MB/s) for several stall windows of the test.
        body = state.big_jpeg
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        response.content_length = len(body)
        await response.prepare(request)
        for start in range(0, len(body), 16 * 1024):
            await response.write(body[start : start + 16 * 1024])
            await asyncio.sleep(0.005)
        return response

    async def counted(request: web.Request) -> web.Response:
        state.in_flight += 1
        state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            # Yield a few times so concurrent requests overlap, without a wall-clock sleep.
            for _ in range(20):
                await asyncio.sleep(0)
        finally:
            state.in_flight -= 1
        return web.Response(body=jpeg, content_type="image/jpeg")

    app = web.Application(middlewares=[record])
    app.router.add_get("/img.jpg", image)
    app.router.add_get("/img.png", png)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/missing", missing)
    app.router.add_get("/html", html)
    app.router.add_get("/truncated.jpg", truncated)
    app.router.add_get("/declared-huge", declared_huge)
    app.router.add_get("/streamed-huge", streamed_huge)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stall", stall)
    app.router.add_get("/trickle", trickle)
    app.router.add_get("/steady", steady)
    app.router.add_get("/counted/{n}", counted)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.port = server.port or 0
    try:
        yield state
    finally:
        release.set()
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose DNS sends every name to the local CDN."""
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver())
    async with aiohttp.ClientSession(connector=connector) as client:
        yield client


async def fetch(session: aiohttp.ClientSession, url: str, **options: Any) -> DownloadedImage:
    """Download with test defaults: kie's hosts plus loopback, a small cap, a short timeout."""
    options.setdefault("allowed_hosts", (*KIE_HOSTS, "127.0.0.1"))
    options.setdefault("max_bytes", CAP)
    options.setdefault("timeout", 5.0)
    return await download_image(session, url, user_agent=USER_AGENT, **options)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("aiquickdraw.com", True),
        ("tempfile.aiquickdraw.com", True),
        ("FILE.AIQUICKDRAW.COM", True),
        ("kieai.redpandaai.co", True),
        ("evilaiquickdraw.com", False),
        ("aiquickdraw.com.evil.com", False),
        ("aiquickdraw.com@evil.com", False),
        ("user:pw@aiquickdraw.com", False),
        ("127.0.0.1", False),
        ("localhost", False),
    ],
)
async def test_host_allow_list(
    cdn: Cdn, session: aiohttp.ClientSession, host: str, allowed: bool
) -> None:
    """Only kie's hosts and their subdomains are fetched; every other name never is."""
    url = cdn.url(host, "/img.jpg")
    if allowed:
        image = await fetch(session, url, allowed_hosts=KIE_HOSTS)
        assert image.data == cdn.jpeg
        assert cdn.hits == [(host.lower(), "/img.jpg")]
    else:
        with pytest.raises(HostNotAllowed):
            await fetch(session, url, allowed_hosts=KIE_HOSTS)
        assert cdn.hits == []


async def test_ip_host_allowed_on_any_port(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """An allowed IP address (as tests and stand-ins use) is fetched on whatever port."""
    image = await fetch(session, cdn.url("127.0.0.1", "/img.jpg"), allowed_hosts=("127.0.0.1",))
    assert (image.format, image.width, image.height) == ("JPEG", 96, 64)
    assert image.content_type == "image/jpeg"
    assert cdn.user_agents == [USER_AGENT]


@pytest.mark.parametrize("url", ["ftp://aiquickdraw.com/img.jpg", "file:///etc/passwd", "data:,x"])
async def test_non_http_schemes_are_refused(session: aiohttp.ClientSession, url: str) -> None:
    """Only http and https are ever requested."""
    with pytest.raises(HostNotAllowed):
        await fetch(session, url)


async def test_redirect_to_a_foreign_host_is_refused(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """A redirect off the allowed hosts is refused before the foreign host is contacted."""
    target = cdn.url("evil.com", "/img.jpg")
    with pytest.raises(HostNotAllowed, match=r"evil\.com"):
        await fetch(session, cdn.url("file.aiquickdraw.com", f"/redirect?to={target}"))
    assert cdn.hits == [("file.aiquickdraw.com", "/redirect")]


async def test_redirect_within_allowed_hosts_is_followed(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """Redirects between allowed hosts, absolute or relative, are followed."""
    target = cdn.url("tempfile.aiquickdraw.com", "/redirect?to=/img.jpg")
    image = await fetch(session, cdn.url("file.aiquickdraw.com", f"/redirect?to={target}"))
    assert image.data == cdn.jpeg
    assert cdn.hits == [
        ("file.aiquickdraw.com", "/redirect"),
        ("tempfile.aiquickdraw.com", "/redirect"),
        ("tempfile.aiquickdraw.com", "/img.jpg"),
    ]
    # The image keeps the URL it was asked for: that is the link users are given.
    assert image.url.startswith("http://file.aiquickdraw.com:")


async def test_redirect_loops_give_up(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """Endless redirects stop after a few hops."""
    with pytest.raises(DownloadFailed, match="redirects"):
        await fetch(session, cdn.url("127.0.0.1", "/loop"))
    assert len(cdn.hits) == MAX_REDIRECTS + 1


async def test_announced_size_over_the_cap_is_refused(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """A Content-Length over the cap is refused without waiting for the body."""
    with pytest.raises(TooLarge, match="announces"):
        await fetch(session, cdn.url("127.0.0.1", "/declared-huge"), timeout=30.0)


async def test_streamed_body_over_the_cap_is_refused(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """A body without Content-Length is cut off as soon as it passes the cap."""
    with pytest.raises(TooLarge, match="exceeds"):
        await fetch(session, cdn.url("127.0.0.1", "/streamed-huge"), timeout=30.0)


async def test_a_stalled_server_times_out(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """A server that never answers fails the download after the total timeout."""
    with pytest.raises(DownloadFailed, match="timed out"):
        await fetch(session, cdn.url("127.0.0.1", "/slow"), timeout=0.2)


# Stall windows short enough for a test: abandoned after 0.2-0.25 s, whatever the total deadline.
STALL = {"stall_window": 0.2, "min_rate": 64 * 1024, "timeout": 30.0}


@pytest.mark.parametrize("path", ["/stall", "/trickle", "/slow"])
async def test_a_stalled_download_is_abandoned(
    cdn: Cdn, session: aiohttp.ClientSession, path: str
) -> None:
    """Bytes that stop, trickle, or never start give DownloadStalled long before the deadline."""
    url = cdn.url("file.aiquickdraw.com", f"{path}?sig=TOPSECRET")
    with pytest.raises(DownloadStalled, match="stalled") as caught:
        await fetch(session, url, **STALL)
    stalled = caught.value
    # A kind of DownloadFailed: callers that count failed images count this one too.
    assert isinstance(stalled, DownloadFailed)
    assert stalled.received < 64 * 1024 * stalled.window
    assert (stalled.window, stalled.min_rate) == (0.2, 64 * 1024)
    assert "TOPSECRET" not in str(stalled)
    assert stalled.url == cdn.url("file.aiquickdraw.com", path)


async def test_a_steady_download_outlasting_the_window_completes(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """A body that keeps coming well above the minimum rate is never cut, however long."""
    image = await fetch(
        session,
        cdn.url("127.0.0.1", "/steady"),
        max_bytes=len(cdn.big_jpeg),
        stall_window=0.05,
        min_rate=16 * 1024,
        timeout=30.0,
    )
    assert image.data == cdn.big_jpeg


async def test_the_total_deadline_still_applies(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """With a long stall window, the total deadline ends a slow download as before."""
    with pytest.raises(DownloadFailed, match="timed out") as caught:
        await fetch(session, cdn.url("127.0.0.1", "/trickle"), stall_window=60.0, timeout=0.2)
    assert not isinstance(caught.value, DownloadStalled)


@pytest.mark.parametrize(("window", "rate"), [(0.0, 1), (-1.0, 1), (1.0, -1)])
async def test_nonsense_stall_settings_are_refused(
    session: aiohttp.ClientSession, window: float, rate: int
) -> None:
    """A window that is not positive, or a negative rate, is a caller error."""
    with pytest.raises(ValueError, match="stall_window"):
        await fetch(
            session, "https://file.aiquickdraw.com/x.jpg", stall_window=window, min_rate=rate
        )


async def test_download_all_gives_up_on_a_stalled_image_only(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """One stalled image comes back as DownloadStalled; the others arrive."""
    urls = [cdn.url("file.aiquickdraw.com", p) for p in ("/img.jpg", "/stall", "/img.png")]
    results = await download_all(
        session,
        urls,
        allowed_hosts=KIE_HOSTS,
        max_bytes=CAP,
        user_agent=USER_AGENT,
        timeout=30.0,
        stall_window=0.2,
    )
    assert [type(result) for result in results] == [
        DownloadedImage,
        DownloadStalled,
        DownloadedImage,
    ]


async def test_http_errors_fail_without_leaking_the_query(
    cdn: Cdn, session: aiohttp.ClientSession
) -> None:
    """A 404 on a signed URL names host and path, never the signature."""
    url = cdn.url("file.aiquickdraw.com", "/missing?sig=TOPSECRET&expires=1")
    with pytest.raises(DownloadFailed, match="HTTP 404") as caught:
        await fetch(session, url)
    assert "TOPSECRET" not in str(caught.value)
    assert "TOPSECRET" not in repr(caught.value)
    assert caught.value.url == cdn.url("file.aiquickdraw.com", "/missing")
    assert caught.value.__cause__ is None


async def test_connection_refused_fails_cleanly(session: aiohttp.ClientSession) -> None:
    """A host that refuses the connection gives DownloadFailed, not an aiohttp error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    with pytest.raises(DownloadFailed, match="request failed"):
        await fetch(session, f"http://127.0.0.1:{free_port}/img.jpg?sig=TOPSECRET")


@pytest.mark.parametrize("path", ["/html", "/truncated.jpg"])
async def test_bytes_that_are_not_an_image_are_refused(
    cdn: Cdn, session: aiohttp.ClientSession, path: str
) -> None:
    """An error page labelled image/jpeg, or a cut-off JPEG, is not an image."""
    with pytest.raises(NotAnImage):
        await fetch(session, cdn.url("127.0.0.1", path))


async def test_repr_hides_data_and_query(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """A downloaded image's repr is short and shows no signature."""
    image = await fetch(session, cdn.url("127.0.0.1", "/img.jpg?sig=TOPSECRET"))
    assert "TOPSECRET" not in repr(image)
    assert image.url.endswith("?sig=TOPSECRET")
    assert len(repr(image)) < 200


async def test_download_all_keeps_order_and_isolates_failures(
    cdn: Cdn, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Each URL gets its own image or error, in input order; failures are logged redacted."""
    urls = [
        cdn.url("file.aiquickdraw.com", "/img.jpg"),
        cdn.url("file.aiquickdraw.com", "/missing?sig=TOPSECRET"),
        cdn.url("evil.com", "/img.jpg?sig=TOPSECRET"),
        cdn.url("file.aiquickdraw.com", "/img.png"),
        cdn.url("file.aiquickdraw.com", "/html"),
    ]
    with caplog.at_level(logging.WARNING, logger="bot.images.download"):
        results = await download_all(
            session, urls, allowed_hosts=KIE_HOSTS, max_bytes=CAP, user_agent=USER_AGENT
        )
    assert [type(result) for result in results] == [
        DownloadedImage,
        DownloadFailed,
        HostNotAllowed,
        DownloadedImage,
        NotAnImage,
    ]
    assert [r.format for r in results if isinstance(r, DownloadedImage)] == ["JPEG", "PNG"]
    assert "TOPSECRET" not in caplog.text
    assert "Image 2 of 5" in caplog.text


async def test_download_all_bounds_concurrency(cdn: Cdn, session: aiohttp.ClientSession) -> None:
    """No more than `concurrency` downloads run at once, and all of them finish."""
    urls = [cdn.url("127.0.0.1", f"/counted/{n}") for n in range(8)]
    results = await download_all(
        session,
        urls,
        allowed_hosts=("127.0.0.1",),
        max_bytes=CAP,
        user_agent=USER_AGENT,
        concurrency=3,
    )
    assert all(isinstance(result, DownloadedImage) for result in results)
    assert 1 <= cdn.most_in_flight <= 3


async def test_download_all_refuses_zero_concurrency(session: aiohttp.ClientSession) -> None:
    """A concurrency below one is a caller error."""
    with pytest.raises(ValueError, match="concurrency"):
        await download_all(
            session, [], allowed_hosts=KIE_HOSTS, user_agent=USER_AGENT, concurrency=0
        )
