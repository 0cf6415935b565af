"""Download kie.ai result images safely: allowed hosts only, capped in size and time.

Nothing here trusts the server: every redirect hop is re-checked against the allow-list, the
body is capped while it streams, and the bytes must decode as an image before anyone uploads
them. URLs in logs and errors are redacted because result URLs may be signed.

Besides the total deadline, a stall watch gives up on a download whose bytes stop or trickle:
fewer than `min_rate` bytes per second over a whole `stall_window` (15 s and 64 KiB/s by
default) raises DownloadStalled, checked every quarter window, so a stall is noticed within
1.25 windows. At 64 KiB/s a 4K result (several MiB) could not finish inside the total
deadline anyway, so nothing that would have arrived in time is cut.
"""

from __future__ import annotations

import asyncio
import collections
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
from yarl import URL

from bot.images.errors import DownloadFailed, DownloadStalled, ImageDownloadError, TooLarge
from bot.images.limits import run_in_image_thread
from bot.images.probe import DEFAULT_MAX_PIXELS, ImageInfo, is_jpeg, probe_image
from bot.images.urls import check_url, redact_url

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MIN_RATE",
    "DEFAULT_STALL_WINDOW",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "DownloadedImage",
    "download_all",
    "download_image",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 40 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0
DEFAULT_CONCURRENCY = 3
# A download is abandoned when fewer than DEFAULT_MIN_RATE bytes per second arrived over the
# last DEFAULT_STALL_WINDOW seconds (headers included: a server that never answers stalls too).
DEFAULT_STALL_WINDOW = 15.0
DEFAULT_MIN_RATE = 64 * 1024
MAX_REDIRECTS = 5
_CHUNK_SIZE = 64 * 1024
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, repr=False)
class DownloadedImage:
    """A verified image: the bytes exactly as served, plus what Pillow read from them."""

    # As requested, query included: it is the link to the original. Log redact_url(url).
    url: str
    data: bytes
    format: str
    width: int
    height: int
    # Taken from the bytes, not from the server's header, which may be wrong or generic.
    content_type: str

    @classmethod
    def probed(cls, url: str, data: bytes, info: ImageInfo) -> DownloadedImage:
        """Wrap `data` fetched from `url` with what probe_image read from it."""
        return cls(
            url=url,
            data=data,
            format=info.format,
            width=info.width,
            height=info.height,
            content_type=info.content_type,
        )

    @property
    def size(self) -> int:
        """Return the size of the image in bytes."""
        return len(self.data)

    def __repr__(self) -> str:
        """Show the redacted URL and the shape, never the bytes or a signed query."""
        return (
            f"DownloadedImage(url={redact_url(self.url)!r}, format={self.format!r}, "
            f"{self.width}x{self.height}, {self.size} bytes)"
        )


async def download_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    allowed_hosts: Sequence[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    # A per-image deadline: download_all applies it to each image, which a caller's
    # asyncio.timeout around the whole batch could not do.
    timeout: float = DEFAULT_TIMEOUT,
    user_agent: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    stall_window: float = DEFAULT_STALL_WINDOW,
    min_rate: int = DEFAULT_MIN_RATE,
) -> DownloadedImage:
    """Fetch one image from an allowed host and check that it really is an image.

    Raises DownloadStalled when fewer than `min_rate` bytes per second arrived over a whole
    `stall_window`, DownloadFailed when the total `timeout` passes first.
    """
    if stall_window <= 0 or min_rate < 0:
        raise ValueError("stall_window must be positive and min_rate not negative")
    target = check_url(url, allowed_hosts)
    safe = redact_url(target)
    watch = _StallWatch(stall_window, min_rate)
    try:
        # One deadline for every hop and the whole body, whatever the session's own timeouts;
        # the stall watch moves it to "now" when the bytes stop.
        async with asyncio.timeout(timeout) as deadline:
            watch.start(deadline)
            data = await _fetch(session, target, allowed_hosts, max_bytes, user_agent, watch)
    except TimeoutError:
        if watch.stalled is not None:
            received, span = watch.stalled
            raise DownloadStalled(
                f"{safe}: stalled, {received} bytes in the last {span:.1f} s "
                f"(under {min_rate} bytes/s)",
                url=safe,
                received=received,
                window=stall_window,
                min_rate=min_rate,
            ) from None
        raise DownloadFailed(f"{safe}: timed out after {timeout:g} s", url=safe) from None
    except aiohttp.ClientError as exc:
        # `from None`: aiohttp's messages may quote the full URL, query string included.
        raise DownloadFailed(f"{safe}: request failed ({type(exc).__name__})", url=safe) from None
    finally:
        watch.stop()
    if is_jpeg(data):
        # A JPEG is checked at 1/8 scale (about 1 MiB for 4K): light enough for any thread,
        # and it need not wait behind other deliveries' re-encoding.
        info = await asyncio.to_thread(probe_image, data, url=safe, max_pixels=max_pixels)
    else:
        # A PNG or WebP is decoded whole to be checked: on the image threads, which bound that.
        info = await run_in_image_thread(probe_image, data, url=safe, max_pixels=max_pixels)
    log.debug(
        "Downloaded %s: %s %dx%d, %d bytes", safe, info.format, info.width, info.height, len(data)
    )
    return DownloadedImage.probed(url, data, info)


async def download_all(
    session: aiohttp.ClientSession,
    urls: Sequence[str],
    *,
    allowed_hosts: Sequence[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    user_agent: str,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    concurrency: int = DEFAULT_CONCURRENCY,
    stall_window: float = DEFAULT_STALL_WINDOW,
    min_rate: int = DEFAULT_MIN_RATE,
) -> list[DownloadedImage | ImageDownloadError]:
    """Download `urls` a few at a time; return each image or its error, in input order.

    A stalled image comes back as DownloadStalled (a DownloadFailed): the others still arrive.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    # A few at once is faster than one by one without hammering the CDN or holding
    # six 40 MiB bodies in memory together.
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int, url: str) -> DownloadedImage | ImageDownloadError:
        async with gate:
            try:
                return await download_image(
                    session,
                    url,
                    allowed_hosts=allowed_hosts,
                    max_bytes=max_bytes,
                    timeout=timeout,
                    user_agent=user_agent,
                    max_pixels=max_pixels,
                    stall_window=stall_window,
                    min_rate=min_rate,
                )
            except ImageDownloadError as exc:
                # One bad image must not cost the requester the others.
                log.warning("Image %d of %d not downloaded: %s", index + 1, len(urls), exc)
                return exc

    # A TaskGroup, unlike gather, cancels the siblings if a real bug escapes one download.
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(index, url)) for index, url in enumerate(urls)]
    return [task.result() for task in tasks]


async def _fetch(
    session: aiohttp.ClientSession,
    url: URL,
    allowed_hosts: Sequence[str],
    max_bytes: int,
    user_agent: str,
    watch: _StallWatch,
) -> bytes:
    """GET `url`, following a few redirects that stay on allowed hosts, and return the body."""
    headers = {
        "User-Agent": user_agent,
        "Accept": "image/webp,image/png,image/jpeg;q=0.9,*/*;q=0.1",
        # Ask for the body as stored, so Content-Length is the real size the cap applies to.
        "Accept-Encoding": "identity",
    }
    for _hop in range(MAX_REDIRECTS + 1):
        safe = redact_url(url)
        # Redirects are followed by hand: aiohttp's own following would reach a foreign host
        # before we could object.
        async with session.get(
            url, headers=headers, allow_redirects=False, raise_for_status=False
        ) as response:
            if response.status in _REDIRECT_STATUSES:
                # Every hop is checked again: an allowed CDN may still point anywhere.
                url = check_url(_redirect_target(url, response), allowed_hosts)
                log.debug("Following redirect from %s to %s", safe, redact_url(url))
                continue
            if response.status != 200:
                raise DownloadFailed(f"{safe}: HTTP {response.status}", url=safe)
            return await _read_capped(response, max_bytes, safe, watch)
    safe = redact_url(url)
    raise DownloadFailed(f"{safe}: more than {MAX_REDIRECTS} redirects", url=safe)


def _redirect_target(current: URL, response: aiohttp.ClientResponse) -> URL:
    """Return where a redirect points, resolved against `current`; the caller re-checks it."""
    safe = redact_url(current)
    location = response.headers.get("Location")
    if not location:
        raise DownloadFailed(f"{safe}: redirect without a Location", url=safe)
    try:
        return current.join(URL(location))
    except ValueError:
        raise DownloadFailed(f"{safe}: redirect to an invalid URL", url=safe) from None


async def _read_capped(
    response: aiohttp.ClientResponse, max_bytes: int, safe: str, watch: _StallWatch
) -> bytes:
    """Read the body, giving up as soon as it is (or claims to be) over `max_bytes`."""
    declared = response.content_length
    if declared is not None and declared > max_bytes:
        raise TooLarge(f"{safe}: announces {declared} bytes, over the {max_bytes} cap", url=safe)
    buffer = io.BytesIO()
    received = 0
    async for chunk in response.content.iter_chunked(_CHUNK_SIZE):
        received += len(chunk)
        watch.received = received
        if received > max_bytes:
            raise TooLarge(f"{safe}: body exceeds the {max_bytes} byte cap", url=safe)
        buffer.write(chunk)
    # getvalue() hands over BytesIO's buffer without a second full-size copy.
    return buffer.getvalue()


class _StallWatch:
    """Trips a download's deadline when too few bytes arrived over the last stall window.

    Checked from loop callbacks every quarter window (no task, no polling of the socket):
    each check records (time, bytes so far) and compares the bytes that arrived since the
    sample one window back with `min_rate` times the time between them.
    """

    def __init__(self, window: float, min_rate: int) -> None:
        self.window = window
        self.min_rate = min_rate
        # The body bytes received so far; the reader updates it.
        self.received = 0
        # (bytes, seconds) of the window that tripped the watch, or None.
        self.stalled: tuple[int, float] | None = None
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._deadline: asyncio.Timeout | None = None
        self._handle: asyncio.TimerHandle | None = None

    def start(self, deadline: asyncio.Timeout) -> None:
        """Begin watching; `deadline` is rescheduled to now when the bytes stall."""
        loop = asyncio.get_running_loop()
        self._deadline = deadline
        self._samples.append((loop.time(), 0))
        self._handle = loop.call_later(self.window / 4, self._check)

    def stop(self) -> None:
        """Stop watching (the download ended, one way or another)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._deadline = None

    def _check(self) -> None:
        """Record a sample; trip the deadline if the last window was too slow."""
        self._handle = None
        if self._deadline is None or self._deadline.expired():
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        samples = self._samples
        samples.append((now, self.received))
        # Keep exactly one sample at or before `now - window`: the base of the window.
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        base_time, base_bytes = samples[0]
        span = now - base_time
        if span >= self.window:
            arrived = self.received - base_bytes
            if arrived < self.min_rate * span:
                self.stalled = (arrived, span)
                self._deadline.reschedule(now)
                return
        self._handle = loop.call_later(self.window / 4, self._check)
