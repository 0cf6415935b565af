"""A local stand-in for kie.ai's Market jobs API, as strict as the real one.

Use it in tests as ``async with FakeKie() as kie: ... kie.base_url``, or as a process:
``python -m imagine_standins.kie --port 8765 --api-key test-key``, which prints its URL on
stdout once it is listening and stops cleanly on SIGTERM or SIGINT.

Errors are answered the way kie answers them: HTTP 200 with the code in the body and
``data: null``. ``http_errors=True`` also sets the HTTP status to the code.

Fault injection: ``kie.on_request(CREATE_TASK, when="before", action=...)`` runs the action
once the task is made but before the answer is sent (``when="after"``: once it is out), and
``kie.on_callback(when=..., action=...)`` around each callback POST (``imagine_standins/hooks.py``).
Every result file carries a JPEG comment naming its task and index (``images.read_stamp``).

The edit model (``bytedance/seedream-v4-edit``) is served too: createTask checks its
``image_urls``, and the task fetches every URL when it starts, as kie does; one that cannot be
fetched or is not a JPEG, PNG or WebP of at most 10 MB fails the task (``fetch.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import secrets
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Self
from urllib.parse import urlsplit

from aiohttp import ClientError, ClientSession, ClientTimeout, web

from imagine_standins.hooks import Hook, Hooks, When
from imagine_standins.kie.fetch import failure_for, fetch_images
from imagine_standins.kie.images import ImageCache, stamp_image
from imagine_standins.kie.records import (
    CallbackAttempt,
    Durations,
    FakeTask,
    ForcedAnswer,
    ManualClock,
    RecordedRequest,
)
from imagine_standins.kie.rules import (
    CREDITS_PER_IMAGE,
    EDIT_MODEL,
    validate_create_body,
    webhook_signature,
)

__all__ = [
    "CALLBACK",
    "CREATE_TASK",
    "CREDIT",
    "DOWNLOAD_URL",
    "FILE",
    "RECORD_INFO",
    "CallbackAttempt",
    "Durations",
    "FakeKie",
    "FakeTask",
    "ForcedAnswer",
    "ManualClock",
    "RecordedRequest",
    "main",
]

log = logging.getLogger(__name__)

CALLBACK = "callback"
CREATE_TASK = "createTask"
RECORD_INFO = "recordInfo"
CREDIT = "credit"
DOWNLOAD_URL = "download-url"
FILE = "file"
PROHIBITED = "Invalid prompt: prompt contains prohibited content"
DOWNLOAD_URL_TTL = 20 * 60
_RECORD = web.RequestKey("kie_record", RecordedRequest)


ImageCount = int | Callable[[dict[str, Any]], int]


class FakeKie:
    """The kie.ai stand-in. Every switch is a plain attribute tests may flip at any time."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        hmac_key: str | None = None,
        credits: int = 10_000,
        host: str = "127.0.0.1",
        port: int = 0,
        http_errors: bool = False,
        durations: Durations | Callable[[dict[str, Any]], Durations] = Durations(),
        clock: Callable[[], float] = time.monotonic,
        create_limit: tuple[int, float] = (20, 10.0),
        read_limit: tuple[int, float] = (10, 1.0),
        callback_retries: int = 0,
        callback_retry_delay: float = 0.05,
        callback_timeout: float = 15.0,
        large_images: bool = False,
        fail_word: str | None = None,
        returned_images: ImageCount | None = None,
        hang_create: float | None = None,
        require_all_fields: bool = True,
        require_browser_ua: bool = False,
        file_base_url: str | None = None,
    ) -> None:
        self.api_key = api_key
        self.hmac_key = hmac_key
        self.credits = credits
        self.host = host
        self.port = port
        self.http_errors = http_errors
        self.durations = durations
        self.clock = clock
        self.create_limit = create_limit
        self.read_limit = read_limit
        self.callback_retries = callback_retries
        self.callback_retry_delay = callback_retry_delay
        self.callback_timeout = callback_timeout
        self.large_images = large_images
        self.fail_word = fail_word
        self.fail_word_answer = ("422", PROHIBITED)
        self.returned_images = returned_images
        self.hang_create = hang_create
        self.require_all_fields = require_all_fields
        self.require_browser_ua = require_browser_ua
        self.maintenance = False
        self.feature_disabled = False
        self.requests: list[RecordedRequest] = []
        self.unhandled: list[str] = []
        self.callbacks: list[CallbackAttempt] = []
        self.tasks: dict[str, FakeTask] = {}
        self._file_base_url = file_base_url
        self._forced: dict[str, deque[ForcedAnswer]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._forced_fails: deque[tuple[str, str]] = deque()
        self._files: dict[str, tuple[FakeTask, int]] = {}
        self._downloads: dict[str, tuple[str, float]] = {}
        self._images = ImageCache()
        self._wall0 = time.time()
        self._clock0 = clock()
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        #: Action and predicate exceptions of the fault-injection hooks (should stay empty).
        self.hook_errors: list[BaseException] = []
        self.hooks: Hooks[RecordedRequest] = Hooks(self.hook_errors)
        self.callback_hooks: Hooks[CallbackAttempt] = Hooks(self.hook_errors)

    # ----- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop serving."""
        await self.stop()

    async def start(self) -> None:
        """Listen on host:port (port 0 picks a free one) and start the task ticker."""
        app = web.Application(client_max_size=1024 * 1024, middlewares=[self._hook_middleware])
        app.router.add_post("/api/v1/jobs/createTask", self._create_task)
        app.router.add_get("/api/v1/jobs/recordInfo", self._record_info)
        app.router.add_get("/api/v1/chat/credit", self._credit)
        app.router.add_post("/api/v1/common/download-url", self._download_url)
        app.router.add_get("/p/{name}", self._file)
        app.router.add_get("/dl/{token}", self._temporary_file)
        app.router.add_route("*", "/{tail:.*}", self._unhandled)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._session = ClientSession(timeout=ClientTimeout(total=self.callback_timeout))
        self._ticker = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        """Stop answering, release hanging requests and cancel pending callbacks."""
        self._closing.set()
        tasks = [*self._background, *([self._ticker] if self._ticker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @property
    def base_url(self) -> str:
        """Return the API base URL, e.g. http://127.0.0.1:41234."""
        return f"http://{self.host}:{self.port}"

    @property
    def file_base_url(self) -> str:
        """Return the base of result file URLs (the stand-in itself unless overridden)."""
        return (self._file_base_url or self.base_url).rstrip("/")

    # ----- controls --------------------------------------------------------------------------

    def force_error(
        self,
        endpoint: str,
        code: int,
        msg: str = "",
        *,
        times: int = 1,
        http_status: int | None = None,
        raw_body: str | None = None,
        content_type: str = "application/json",
        retry_after: float | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``endpoint`` with this error instead.

        ``http_status`` overrides the HTTP status; ``raw_body`` replaces the JSON envelope
        (e.g. a Cloudflare page); ``retry_after`` adds a Retry-After header.
        """
        answer = ForcedAnswer(
            code, msg or f"forced error {code}", http_status, raw_body, content_type, retry_after
        )
        self._forced.setdefault(endpoint, deque()).extend([answer] * times)

    def clear_forced(self, endpoint: str) -> int:
        """Drop the forced answers (``force_error``) ``endpoint`` has still to give; count them.

        With ``force_error(..., times=<many>)`` this makes a fault last a while, not a count:
        kie's 429s stop when its window frees, however often a client asked meanwhile.
        """
        return len(self._forced.pop(endpoint, ()))

    def force_delay(self, endpoint: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next ``times`` calls of ``endpoint`` this long before handling them."""
        self._delays.setdefault(endpoint, deque()).extend([seconds] * times)

    def force_fail(
        self, fail_code: str = "500", fail_msg: str = "Internal server error", *, times: int = 1
    ) -> None:
        """Make the next ``times`` created tasks end in state fail with this code and msg."""
        self._forced_fails.extend([(fail_code, fail_msg)] * times)

    def on_request(
        self,
        match: str | Callable[[RecordedRequest], bool],
        *,
        when: When = "before",
        action: Callable[[RecordedRequest], Any],
        times: int | None = 1,
    ) -> Hook[RecordedRequest]:
        """Run ``action(request)`` when a matching request comes in (fault injection).

        ``match`` is an endpoint name (``CREATE_TASK``, ``RECORD_INFO``, ``FILE``, …) or a
        predicate on the RecordedRequest, checked once the request was handled (its
        ``status``, ``code`` and ``task_id`` are known). ``when="before"``: kie has acted on
        it (a createTask has made its task) but the answer waits until the action, awaited
        if it returns an awaitable, is done. ``when="after"``: the answer has been written
        out. ``times`` limits how many requests fire it (None: all). See imagine_standins/hooks.py.
        """
        return self.hooks.on(match, lambda rec: rec.endpoint, when=when, action=action, times=times)

    def on_callback(
        self,
        match: Callable[[CallbackAttempt], bool] | None = None,
        *,
        when: When = "before",
        action: Callable[[CallbackAttempt], Any],
        times: int | None = 1,
    ) -> Hook[CallbackAttempt]:
        """Run ``action(attempt)`` around kie's callback POSTs (fault injection).

        ``when="before"``: the callback is about to be POSTed (it goes out once the action,
        awaited if it returns an awaitable, is done). ``when="after"``: the POST is over; its
        ``status`` (or ``error``) is set. ``match`` filters the attempts (default: all).
        """
        return self.callback_hooks.add(
            match or (lambda attempt: True),
            when=when,
            action=action,
            times=times,
            description=getattr(match, "__name__", CALLBACK),
        )

    def expire_files(self, task_id: str, indexes: Iterable[int] | None = None) -> list[str]:
        """Take a finished task's result files (all, or these 0-based indexes) off the file host.

        kie's result links do not last. From now on ``GET /p/<name>``, any download-url link
        to it and a new download-url for it are answered as for a name kie never made (404,
        404, 422); recordInfo and the callback still list the URL, as kie's do. Returns the
        names taken off.
        """
        task = self.tasks[task_id]
        wanted = range(len(task.file_names)) if indexes is None else indexes
        gone = []
        for index in wanted:
            name = task.file_names[index]
            if self._files.pop(name, None) is not None:
                gone.append(name)
        return gone

    def task(self, task_id: str) -> FakeTask:
        """Return a task by id."""
        return self.tasks[task_id]

    def tasks_created(self) -> list[FakeTask]:
        """Return every task made so far, oldest first."""
        return list(self.tasks.values())

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        """Return the recorded requests to one endpoint, in arrival order."""
        return [r for r in self.requests if r.endpoint == endpoint]

    def max_in_window(self, endpoint: str, window: float, *, accepted_only: bool = False) -> int:
        """Return the most arrivals at ``endpoint`` within any span shorter than ``window``."""
        times = sorted(r.at for r in self.calls(endpoint) if not accepted_only or r.code != 429)
        best = start = 0
        for end, t in enumerate(times):
            while t - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def finish_now(self, task_id: str) -> None:
        """Move a task straight to its terminal state (with the default clock)."""
        task = self.tasks[task_id]
        task.durations = Durations(0, 0, 0)
        task.created_at = min(task.created_at, self.clock())
        self._wake.set()

    # ----- helpers ---------------------------------------------------------------------------

    @web.middleware
    async def _hook_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Run the on_request hooks just before and just after each answer."""
        response: web.StreamResponse = await handler(request)
        rec: RecordedRequest | None = request.get(_RECORD)
        if rec is None:
            return response
        await self.hooks.run(rec, "before")
        after = self.hooks.claim(rec, "after") if self.hooks.pending("after") else []
        if after:
            # Write the answer out completely before the action runs.
            with contextlib.suppress(ConnectionError):
                await response.prepare(request)
                await response.write_eof()
            await self.hooks.fire(after, rec)
        return response

    def _epoch_ms(self, t: float) -> int:
        """Turn a clock time into Unix milliseconds."""
        return int((self._wall0 + (t - self._clock0)) * 1000)

    async def _arrive(self, request: web.Request, endpoint: str) -> RecordedRequest:
        """Record a request on arrival, with its body parsed when it is JSON."""
        at = time.monotonic()
        body: Any = None
        if request.can_read_body:
            text = await request.text()
            try:
                body = json.loads(text)
            except ValueError:
                body = text
        rec = RecordedRequest(
            endpoint=endpoint,
            method=request.method,
            path=request.path,
            at=at,
            query=dict(request.query),
            headers=dict(request.headers),
            body=body,
        )
        self.requests.append(rec)
        request[_RECORD] = rec
        delays = self._delays.get(endpoint)
        if delays:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delays.popleft())
        return rec

    def _answer(self, rec: RecordedRequest, code: int, msg: str, data: Any = None) -> web.Response:
        """Reply in kie's envelope; errors get HTTP 200 unless http_errors is on."""
        status = 200 if code == 200 or not self.http_errors else code
        rec.status, rec.code = status, code
        return web.json_response({"code": code, "msg": msg, "data": data}, status=status)

    def _forced_answer(self, rec: RecordedRequest, answer: ForcedAnswer) -> web.Response:
        """Reply with a canned answer."""
        if answer.raw_body is not None:
            rec.status, rec.code = answer.http_status or 200, None
            return web.Response(
                text=answer.raw_body, status=rec.status, content_type=answer.content_type
            )
        response = self._answer(rec, answer.code, answer.msg)
        if answer.retry_after is not None:
            response.headers["Retry-After"] = f"{answer.retry_after:g}"
        if answer.http_status is not None:
            response.set_status(answer.http_status)
            rec.status = answer.http_status
        return response

    def _gate(self, request: web.Request, rec: RecordedRequest) -> web.Response | None:
        """Apply maintenance, auth, the browser check and forced errors, in that order."""
        if self.maintenance:
            return self._answer(rec, 455, "Service under maintenance, please try again later")
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._answer(rec, 401, "You do not have access permissions")
        if self.require_browser_ua and "Mozilla/" not in request.headers.get("User-Agent", ""):
            rec.status = 403
            return web.Response(text="error code: 1010", status=403, content_type="text/plain")
        if request.method == "POST" and request.content_type != "application/json":
            return self._answer(
                rec,
                401,
                "Unauthorized – Authentication failed. Please check that your Authorization "
                "and Content-Type headers are correctly set.",
            )
        queue = self._forced.get(rec.endpoint)
        if queue:
            return self._forced_answer(rec, queue.popleft())
        return None

    def _over_limit(self, rec: RecordedRequest, limit: tuple[int, float]) -> bool:
        """Return True if this arrival would exceed the sliding-window limit; else count it."""
        max_calls, window = limit
        recent = sum(
            1
            for r in self.requests
            if r.counted and r.endpoint == rec.endpoint and rec.at - r.at < window
        )
        if recent >= max_calls:
            return True
        rec.counted = True
        return False

    def _durations_for(self, body: dict[str, Any]) -> Durations:
        """Return the lifecycle timings for a new task."""
        if isinstance(self.durations, Durations):
            return self.durations
        return self.durations(body)

    def _image_count(self, inp: dict[str, Any]) -> int:
        """Return how many images a new task will return (at most max_images, at least 1)."""
        wanted = int(inp.get("max_images", 1))
        if self.returned_images is None:
            return wanted
        n = (
            self.returned_images
            if isinstance(self.returned_images, int)
            else (self.returned_images(inp))
        )
        return max(1, min(wanted, n))

    def _fail_for(self, inp: dict[str, Any]) -> tuple[str, str] | None:
        """Decide at creation whether a task will fail, and how."""
        if self._forced_fails:
            return self._forced_fails.popleft()
        if self.fail_word and self.fail_word.lower() in str(inp.get("prompt", "")).lower():
            return self.fail_word_answer
        return None

    def _param(self, body: dict[str, Any]) -> str:
        """Encode ``param`` in the newer docs' form, with ``input`` double-encoded."""
        param: dict[str, Any] = {"input": json.dumps(body["input"], ensure_ascii=False)}
        if "callBackUrl" in body:
            param["callBackUrl"] = body["callBackUrl"]
        param["model"] = body["model"]
        return json.dumps(param, ensure_ascii=False)

    def _record_data(self, task: FakeTask) -> dict[str, Any]:
        """Build recordInfo's ``data`` (also the callback's) for a task as of now."""
        now = self.clock()
        state = task.state(now)
        terminal = state in ("success", "fail")
        urls = [f"{self.file_base_url}/p/{name}" for name in task.file_names]
        return {
            "taskId": task.task_id,
            "model": task.body["model"],
            "state": state,
            "param": self._param(task.body),
            "resultJson": json.dumps({"resultUrls": urls}) if state == "success" else "",
            "failCode": task.fail[0] if state == "fail" and task.fail else "",
            "failMsg": task.fail[1] if state == "fail" and task.fail else "",
            "costTime": round(task.durations.queuing + task.durations.generating)
            if terminal
            else None,
            "completeTime": self._epoch_ms(task.terminal_at) if terminal else None,
            "createTime": self._epoch_ms(task.created_at),
            "updateTime": self._epoch_ms(task.state_started(now)),
            "creditsConsumed": task.credits_consumed,
        }

    def _settle_due(self) -> None:
        """Finish every task whose time has come: results, credits, callback."""
        now = self.clock()
        for task in self.tasks.values():
            if task.settled or task.fetching or now < task.terminal_at:
                continue
            task.settled = True
            if task.fail is None:
                unix = int(self._epoch_ms(task.terminal_at) / 1000)
                for n in range(1, task.image_count + 1):
                    name = f"{task.task_id}_{n}_{unix}_{random.randint(0, 9999):04d}.jpg"
                    task.file_names.append(name)
                    self._files[name] = (task, n - 1)
                task.credits_consumed = CREDITS_PER_IMAGE * task.image_count
                self.credits -= task.credits_consumed
            if task.callback_url:
                bg = asyncio.create_task(self._deliver_callback(task))
                self._background.add(bg)
                bg.add_done_callback(self._background.discard)

    async def _tick(self) -> None:
        """Settle tasks as they come due; sleep exactly with the real clock, else poll."""
        real_clock = self.clock is time.monotonic
        while not self._closing.is_set():
            self._settle_due()
            pending = [t.terminal_at for t in self.tasks.values() if not t.settled]
            timeout: float | None = None
            if pending:
                timeout = max(0.0, min(pending) - self.clock()) if real_clock else 0.01
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancel
            # of stop() when the wake-up lands at the same moment, and the loop never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _start_fetching(self, task: FakeTask) -> None:
        """Fetch an edit task's image_urls now, as kie does when a task starts (``fetch.py``).

        The task waits meanwhile; an image that cannot be used fails it at once.
        """
        task.fetching = True

        async def fetch() -> None:
            assert self._session is not None
            try:
                task.fetched = await fetch_images(self._session, task.input["image_urls"])
                failure = failure_for(task.fetched)
                if failure is not None and task.fail is None:
                    task.fail = failure
                    # It ends now: failed at its start, nothing generated, nothing charged.
                    elapsed = max(0.0, self.clock() - task.created_at)
                    task.durations = Durations(elapsed, 0.0, 0.0)
            finally:
                task.fetching = False
                self._wake.set()

        bg = asyncio.create_task(fetch())
        self._background.add(bg)
        bg.add_done_callback(self._background.discard)

    async def _deliver_callback(self, task: FakeTask) -> None:
        """POST the callback once, retrying on failure as configured."""
        assert self._session is not None
        assert task.callback_url is not None
        success = task.fail is None
        body = {
            "code": 200 if success else 501,
            "msg": "Playground task completed successfully."
            if success
            else "Playground task failed.",
            "data": self._record_data(task),
        }
        for attempt in range(1 + self.callback_retries):
            headers = {"Content-Type": "application/json"}
            if self.hmac_key:
                ts = str(int(time.time()))
                headers["X-Webhook-Timestamp"] = ts
                headers["X-Webhook-Signature"] = webhook_signature(self.hmac_key, task.task_id, ts)
            record = CallbackAttempt(task.task_id, task.callback_url, attempt + 1, body, headers)
            self.callbacks.append(record)
            await self.callback_hooks.run(record, "before")
            record.sent_at = time.time()
            try:
                async with self._session.post(
                    task.callback_url, data=json.dumps(body), headers=headers
                ) as resp:
                    record.status = resp.status
                    await resp.read()
            except (ClientError, OSError, TimeoutError) as exc:
                record.error = f"{type(exc).__name__}: {exc}"
            await self.callback_hooks.run(record, "after")
            if record.status is not None and 200 <= record.status < 300:
                return
            await asyncio.sleep(self.callback_retry_delay)

    # ----- handlers --------------------------------------------------------------------------

    async def _create_task(self, request: web.Request) -> web.StreamResponse:
        """POST /api/v1/jobs/createTask."""
        rec = await self._arrive(request, CREATE_TASK)
        self._settle_due()
        refused = self._gate(request, rec)
        if refused is not None:
            return refused
        if self._over_limit(rec, self.create_limit):
            return self._answer(rec, 429, "Rate limit exceeded: too many requests, try later")
        if self.feature_disabled:
            return self._answer(rec, 505, "The feature is disabled")
        problem = validate_create_body(rec.body, require_all=self.require_all_fields)
        if problem is not None:
            return self._answer(rec, *problem)
        body: dict[str, Any] = rec.body
        reserved = sum(t.reserved for t in self.tasks.values() if not t.settled)
        if self.credits - reserved < CREDITS_PER_IMAGE * body["input"].get("max_images", 1):
            return self._answer(rec, 402, "Credits insufficient")
        task = FakeTask(
            task_id=secrets.token_hex(16),
            body=body,
            created_at=self.clock(),
            durations=self._durations_for(body),
            fail=self._fail_for(body["input"]),
            image_count=self._image_count(body["input"]),
            large=self.large_images,
        )
        self.tasks[task.task_id] = task
        rec.task_id = task.task_id
        if body["model"] == EDIT_MODEL:
            self._start_fetching(task)
        self._wake.set()
        if self.hang_create is not None:
            # The task exists; only the answer is late, so the client cannot tell.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.hang_create)
        return self._answer(rec, 200, "success", {"taskId": task.task_id})

    async def _record_info(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v1/jobs/recordInfo?taskId=…."""
        rec = await self._arrive(request, RECORD_INFO)
        self._settle_due()
        refused = self._gate(request, rec)
        if refused is not None:
            return refused
        if self._over_limit(rec, self.read_limit):
            return self._answer(rec, 429, "Rate limit exceeded: too many requests, try later")
        task_id = request.query.get("taskId", "")
        rec.task_id = task_id or None
        if not task_id:
            return self._answer(rec, 400, "taskId parameter is required")
        task = self.tasks.get(task_id)
        if task is None:
            return self._answer(rec, 422, "recordInfo is null")
        return self._answer(rec, 200, "success", self._record_data(task))

    async def _credit(self, request: web.Request) -> web.StreamResponse:
        """GET /api/v1/chat/credit."""
        rec = await self._arrive(request, CREDIT)
        self._settle_due()
        return self._gate(request, rec) or self._answer(rec, 200, "success", self.credits)

    async def _download_url(self, request: web.Request) -> web.StreamResponse:
        """POST /api/v1/common/download-url."""
        rec = await self._arrive(request, DOWNLOAD_URL)
        self._settle_due()
        refused = self._gate(request, rec)
        if refused is not None:
            return refused
        url = rec.body.get("url") if isinstance(rec.body, dict) else None
        if not isinstance(url, str) or not url:
            return self._answer(rec, 422, "url is required")
        parts = urlsplit(url)
        name = parts.path.removeprefix("/p/")
        base = urlsplit(self.file_base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or name not in self._files:
            return self._answer(rec, 422, "Only kie-generated file URLs are supported")
        token = secrets.token_hex(16)
        self._downloads[token] = (name, self.clock() + DOWNLOAD_URL_TTL)
        return self._answer(rec, 200, "success", f"{self.file_base_url}/dl/{token}")

    async def _serve_file(self, rec: RecordedRequest, name: str) -> web.StreamResponse:
        """Send a result image, rendering it off the event loop the first time."""
        task, index = self._files[name]
        rec.task_id = task.task_id
        inp = task.input
        data = await self._images.get(
            inp.get("image_size", "square_hd"),
            inp.get("image_resolution", "1K"),
            index,
            task.large,
            str(inp.get("prompt", "")),
        )
        data = stamp_image(data, task.task_id, index)
        rec.status = 200
        return web.Response(body=data, content_type="image/jpeg")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """GET /p/<taskId>_<n>_<unixSec>_<4digits>.jpg (no auth, like kie's file host)."""
        rec = await self._arrive(request, FILE)
        name = request.match_info["name"]
        if name not in self._files:
            rec.status = 404
            return web.Response(status=404, text="Not Found")
        return await self._serve_file(rec, name)

    async def _temporary_file(self, request: web.Request) -> web.StreamResponse:
        """GET a download-url link while it is valid."""
        rec = await self._arrive(request, FILE)
        entry = self._downloads.get(request.match_info["token"])
        if entry is None or self.clock() > entry[1] or entry[0] not in self._files:
            rec.status = 404
            return web.Response(status=404, text="Not Found")
        return await self._serve_file(rec, entry[0])

    async def _unhandled(self, request: web.Request) -> web.StreamResponse:
        """Answer 404 to anything kie does not serve, and remember it."""
        rec = await self._arrive(request, "unhandled")
        self.unhandled.append(f"{request.method} {request.path}")
        rec.status, rec.code = 404, 404
        return web.json_response({"code": 404, "msg": "Not Found", "data": None}, status=404)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    p = argparse.ArgumentParser(prog="python -m imagine_standins.kie", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--api-key", default="test-key")
    p.add_argument("--hmac-key", default=None)
    p.add_argument("--credits", type=int, default=10_000)
    p.add_argument("--waiting", type=float, default=0.5, help="seconds in state waiting")
    p.add_argument("--queuing", type=float, default=0.5, help="seconds in state queuing")
    p.add_argument("--generating", type=float, default=2.0, help="seconds in state generating")
    p.add_argument("--create-limit", type=int, default=20)
    p.add_argument("--create-window", type=float, default=10.0)
    p.add_argument("--read-limit", type=int, default=10)
    p.add_argument("--read-window", type=float, default=1.0)
    p.add_argument("--http-errors", action="store_true")
    p.add_argument("--large-images", action="store_true")
    p.add_argument("--fail-word", default=None)
    p.add_argument("--returned-images", type=int, default=None)
    p.add_argument("--callback-retries", type=int, default=0)
    p.add_argument("--file-base-url", default=None)
    return p.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    """Run the stand-in until SIGTERM or SIGINT."""
    kie = FakeKie(
        api_key=args.api_key,
        hmac_key=args.hmac_key,
        credits=args.credits,
        host=args.host,
        port=args.port,
        http_errors=args.http_errors,
        durations=Durations(args.waiting, args.queuing, args.generating),
        create_limit=(args.create_limit, args.create_window),
        read_limit=(args.read_limit, args.read_window),
        callback_retries=args.callback_retries,
        large_images=args.large_images,
        fail_word=args.fail_word,
        returned_images=args.returned_images,
        file_base_url=args.file_base_url,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with kie:
        print(kie.base_url, flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    """Entry point for ``python -m imagine_standins.kie``."""
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(_parse_args(argv)))
