"""Async client for kie.ai's Market jobs API (Seedream 4.0 text-to-image).

Transport only: the session is injected, requests and answers are typed, parsing lives in
:mod:`bot.kie.parsing` and the retry rule in :mod:`bot.kie.retry`. Every endpoint goes through
one send loop, :meth:`KieClient._send`, which asks :func:`bot.kie.retry.verdict` after each
failed attempt. The contract it implements is docs/kie-api.md.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp

from bot.kie.errors import (
    KieError,
    KieNotNow,
    KieOutcomeUnknown,
    KieRequestInvalid,
    KieTransportError,
)
from bot.kie.limiter import KieLimiter, Window
from bot.kie.models import CreateTaskRequest, TaskRecord
from bot.kie.parsing import (
    envelope_code,
    parse_create_task_response,
    parse_credits_response,
    parse_download_url_response,
    parse_record_info_response,
)
from bot.kie.retry import Action, Call, RetryPolicy, Transport, verdict

__all__ = [
    "CREATE_TASK_PATH",
    "CREDIT_PATH",
    "DEFAULT_BASE_URL",
    "DEFAULT_USER_AGENT",
    "DOWNLOAD_URL_PATH",
    "RECORD_INFO_PATH",
    "KieClient",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.kie.ai"
CREATE_TASK_PATH = "/api/v1/jobs/createTask"
RECORD_INFO_PATH = "/api/v1/jobs/recordInfo"
CREDIT_PATH = "/api/v1/chat/credit"
DOWNLOAD_URL_PATH = "/api/v1/common/download-url"
# Cloudflare in front of kie answers 403 "error code: 1010" to non-browser User-Agents.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

T = TypeVar("T")
Parser = Callable[..., T]


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Read a Retry-After header given in seconds or as an HTTP date."""
    raw = headers.get("Retry-After")
    if not raw:
        return None
    raw = raw.strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class _Answer:
    """An HTTP answer as read off the wire."""

    status: int
    text: str
    retry_after: float | None


@dataclass(frozen=True)
class _Lost:
    """A transport failure: no answer was read."""

    failure: Transport
    exc: Exception


def _describe(exc: BaseException) -> str:
    """Name a transport exception without a stack trace."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class KieClient:
    """Calls kie.ai through an injected aiohttp session, under a shared KieLimiter."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        api_key: str,
        limiter: KieLimiter,
        request_timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        user_agent: str = DEFAULT_USER_AGENT,
        observe: Callable[[str, int], None] | None = None,
    ) -> None:
        self._session = session
        # Told (endpoint path, kie code or HTTP status) of every answer, for metrics.
        self._observe = observe
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._user_agent = user_agent

    def __repr__(self) -> str:
        """Describe the client without its API key."""
        return f"KieClient(base_url={self._base_url!r}, api_key='**********')"

    @property
    def base_url(self) -> str:
        """Return the API base URL, without a trailing slash."""
        return self._base_url

    @property
    def limiter(self) -> KieLimiter:
        """Return the shared limiter (for queue positions and metrics)."""
        return self._limiter

    def _headers(self) -> dict[str, str]:
        """Build the headers every kie request needs."""
        return {
            "Authorization": f"Bearer {self._api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": self._user_agent,
        }

    def _scrub(self, exc: KieError) -> KieError:
        """Blank the API key out of an error message, in case a server echoed it."""
        if self._api_key and self._api_key in exc.message:
            exc.message = exc.message.replace(self._api_key, "**********")
            exc.args = tuple(
                a.replace(self._api_key, "**********") if isinstance(a, str) else a
                for a in exc.args
            )
        return exc

    def _clean(self, text: str) -> str:
        """Blank the API key out of free text."""
        return text.replace(self._api_key, "**********") if self._api_key else text

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> _Answer:
        """Send one request and return its HTTP status, body text and Retry-After seconds."""
        data = None if payload is None else json.dumps(payload).encode()
        async with self._session.request(
            method,
            self._base_url + path,
            params=params,
            data=data,
            headers=self._headers(),
            timeout=self._timeout,
        ) as resp:
            body = await resp.read()
            log.debug("kie %s %s -> HTTP %s", method, path, resp.status)
            text = body.decode("utf-8", "replace")
            if self._observe is not None:
                self._observe(path, envelope_code(text) or resp.status)
            return _Answer(resp.status, text, _retry_after(resp.headers))

    async def _attempt(
        self,
        window: Window,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        payload: Mapping[str, Any] | None,
        before_send: Callable[[], Awaitable[None]] | None,
    ) -> _Answer | _Lost:
        """Send once under a window slot; return the answer, or how the transport failed."""
        try:
            async with window.slot():
                if before_send is not None:
                    await before_send()
                return await self._exchange(method, path, params=params, payload=payload)
        except aiohttp.InvalidURL as exc:
            return _Lost(Transport.BAD_URL, exc)
        except aiohttp.ClientConnectorError as exc:
            return _Lost(Transport.NOT_CONNECTED, exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return _Lost(Transport.NO_ANSWER, exc)

    async def _send(
        self,
        call: Call,
        what: str,
        method: str,
        path: str,
        parse: Parser[T],
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
        request: CreateTaskRequest | None = None,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> T:
        """Send a request until it succeeds or the retry rule's verdict ends it."""
        window = self._limiter.create if call is Call.CREATE else self._limiter.read
        attempt = 0
        while True:
            answer = await self._attempt(
                window,
                method,
                path,
                params=params,
                payload=payload,
                before_send=before_send if attempt == 0 else None,
            )
            failure: KieError | Transport
            cause: Exception
            if isinstance(answer, _Lost):
                failure, cause, retry_after = answer.failure, answer.exc, None
                reason = self._clean(_describe(cause))
            else:
                retry_after = answer.retry_after
                try:
                    return parse(answer.status, answer.text, retry_after=retry_after)
                except KieError as exc:
                    failure = cause = self._scrub(exc)
                reason = str(failure)
            judged = verdict(
                call, failure, attempt=attempt, retry_after=retry_after, policy=self._retry
            )
            if judged.action is Action.RETRY:
                attempt += 1
                log.warning(
                    "kie %s failed (%s); retry %d in %.2fs", what, reason, attempt, judged.delay
                )
                await self._sleep(judged.delay)
                continue
            if judged.action is Action.NOT_NOW:
                # Only createTask answers "not now": raised at once with its retry_after, so
                # the caller keeps the job's place and chooses when to come back.
                assert isinstance(failure, KieNotNow)
                log.info("kie %s not now (%s); retry_after=%s", what, reason, failure.retry_after)
                raise failure
            if judged.action is Action.OUTCOME_UNKNOWN:
                # Only createTask can end unknown, and it always passes its request.
                assert request is not None
                raise KieOutcomeUnknown(
                    f"{what} outcome unknown: {reason}", request=request
                ) from cause
            if isinstance(failure, KieError):
                raise failure
            if failure is Transport.BAD_URL:
                raise KieTransportError(f"{what}: {reason}") from cause
            raise KieTransportError(
                f"{what} failed after {attempt + 1} attempts: {reason}"
            ) from cause

    async def create_task(
        self,
        req: CreateTaskRequest,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Create a generation task and return its taskId (retries: docs/kie-api.md §9).

        Resent only when the connection never opened. Raises at once, never resending:

        - ``KieRateLimited`` (429) or ``KieMaintenance`` (455), both ``KieNotNow``, with
          ``retry_after`` in seconds or None: nothing was made; come back later.
        - ``KieOutcomeUnknown`` (carrying ``request``) after a timeout, a dropped connection,
          any 500 or another answer that cannot prove whether a task was made.
        - any other ``KieError`` as final (401, 402, 422, 433, 505, …).

        `before_send` is awaited once, after the rate-limit slot is held and before the
        request leaves: the caller can record "sent" only when it truly is about to be
        (and abort by raising). Waiting for a slot is therefore always safe to cancel.
        """
        req.validate()
        task_id = await self._send(
            Call.CREATE,
            "createTask",
            "POST",
            CREATE_TASK_PATH,
            parse_create_task_response,
            payload=req.to_payload(),
            request=req,
            before_send=before_send,
        )
        log.info("kie createTask made task %s", task_id)
        return task_id

    async def get_task(self, task_id: str) -> TaskRecord:
        """Fetch a task's record from recordInfo."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise KieRequestInvalid("task_id", "must be a non-empty string")
        return await self._send(
            Call.READ,
            "recordInfo",
            "GET",
            RECORD_INFO_PATH,
            parse_record_info_response,
            params={"taskId": task_id},
        )

    async def get_credits(self) -> Decimal:
        """Return the account's credit balance, exactly (free; a good health check)."""
        return await self._send(
            Call.READ, "chat/credit", "GET", CREDIT_PATH, parse_credits_response
        )

    async def get_download_url(self, url: str) -> str:
        """Exchange a kie-generated file URL for a temporary (20 minute) download URL."""
        if not isinstance(url, str) or not url.strip():
            raise KieRequestInvalid("url", "must be a non-empty string")
        return await self._send(
            Call.READ,
            "download-url",
            "POST",
            DOWNLOAD_URL_PATH,
            parse_download_url_response,
            payload={"url": url},
        )
