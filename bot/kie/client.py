"""Async client for kie.ai's Market jobs API (Seedream 4.0 text-to-image).

Transport only: the session is injected, requests and answers are typed, parsing lives in
:mod:`bot.kie.parsing` and the retry rule in :mod:`bot.kie.retry` (read its docstring).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiohttp

from bot.kie.errors import (
    KieError,
    KieMaintenance,
    KieOutcomeUnknown,
    KieRateLimited,
    KieRequestInvalid,
    KieServerError,
    KieTransportError,
    KieUnexpectedResponse,
)
from bot.kie.limiter import KieLimiter, SlidingWindowLimiter
from bot.kie.models import CreateTaskRequest, TaskRecord
from bot.kie.parsing import (
    envelope_code,
    has_envelope,
    parse_create_task_response,
    parse_credits_response,
    parse_download_url_response,
    parse_record_info_response,
)
from bot.kie.retry import RetryPolicy, is_retryable_read_error

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
    ) -> tuple[int, str, float | None]:
        """Send one request and return (HTTP status, body text, Retry-After seconds)."""
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
            return resp.status, text, _retry_after(resp.headers)

    async def _read(
        self,
        what: str,
        method: str,
        path: str,
        parse: Parser[T],
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> T:
        """Run a read under the read budget, retrying as the retry rule allows."""
        attempt = 0
        window: SlidingWindowLimiter = self._limiter.read
        while True:
            retry_after: float | None = None
            try:
                async with window.slot():
                    status, text, header_retry = await self._exchange(
                        method, path, params=params, payload=payload
                    )
                return parse(status, text, retry_after=header_retry)
            except aiohttp.InvalidURL as exc:
                raise KieTransportError(self._clean(f"{what}: {_describe(exc)}")) from exc
            except KieError as exc:
                if not is_retryable_read_error(exc):
                    raise self._scrub(exc) from None
                if isinstance(exc, KieRateLimited):
                    retry_after = exc.retry_after
                delay = self._retry.delay(attempt, retry_after)
                if delay is None:
                    raise self._scrub(exc) from None
                reason = str(self._scrub(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                delay = self._retry.delay(attempt)
                if delay is None:
                    raise KieTransportError(
                        self._clean(f"{what} failed after {attempt + 1} attempts: {_describe(exc)}")
                    ) from exc
                reason = self._clean(_describe(exc))
            attempt += 1
            log.warning("kie %s failed (%s); retry %d in %.2fs", what, reason, attempt, delay)
            await self._sleep(delay)

    async def create_task(
        self,
        req: CreateTaskRequest,
        *,
        before_send: Callable[[], Awaitable[None]] | None = None,
    ) -> str:
        """Create a generation task and return its taskId (see bot.kie.retry for retries).

        `before_send` is awaited once, after the rate-limit slot is held and before the
        request leaves: the caller can record "sent" only when it truly is about to be
        (and abort by raising). Waiting for a slot is therefore always safe to cancel.
        """
        req.validate()
        payload = req.to_payload()
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                async with self._limiter.create.slot():
                    if before_send is not None and attempt == 0:
                        await before_send()
                    status, text, header_retry = await self._exchange(
                        "POST", CREATE_TASK_PATH, payload=payload
                    )
            except aiohttp.InvalidURL as exc:
                raise KieTransportError(self._clean(f"createTask: {_describe(exc)}")) from exc
            except aiohttp.ClientConnectorError as exc:
                # The connection was never opened, so the request was never sent.
                delay = self._retry.delay(attempt)
                if delay is None:
                    raise KieTransportError(
                        self._clean(f"createTask could not connect: {_describe(exc)}")
                    ) from exc
                reason = self._clean(_describe(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise KieOutcomeUnknown(
                    self._clean(f"createTask outcome unknown: {_describe(exc)}"), request=req
                ) from exc
            else:
                try:
                    task_id = parse_create_task_response(status, text, retry_after=header_retry)
                except KieError as exc:
                    self._scrub(exc)
                    if self._outcome_unknown(exc, status, text):
                        raise KieOutcomeUnknown(
                            f"createTask outcome unknown: {exc}", request=req
                        ) from exc
                    if not self._proves_no_task(exc, text):
                        raise
                    if isinstance(exc, KieRateLimited):
                        retry_after = exc.retry_after
                    delay = self._retry.delay(attempt, retry_after)
                    if delay is None:
                        raise
                    reason = str(exc)
                else:
                    log.info("kie createTask made task %s", task_id)
                    return task_id
            attempt += 1
            log.warning("kie createTask refused (%s); retry %d in %.2fs", reason, attempt, delay)
            await self._sleep(delay)

    @staticmethod
    def _proves_no_task(exc: KieError, text: str) -> bool:
        """Return True when a createTask error shows kie made no task, so a resend is safe."""
        if isinstance(exc, KieRateLimited | KieMaintenance):
            return True
        # A 500 *envelope* means kie handled the request and refused it; a bare 5xx page
        # from a gateway says nothing about what happened behind it.
        return isinstance(exc, KieServerError) and has_envelope(text)

    @staticmethod
    def _outcome_unknown(exc: KieError, status: int, text: str) -> bool:
        """Return True when a createTask answer cannot tell whether a task was made."""
        if isinstance(exc, KieUnexpectedResponse):
            return True
        code = envelope_code(text)
        if code == 200:
            # The body claims success under an error status: a task may well exist.
            return True
        if code is not None or isinstance(exc, KieRateLimited | KieMaintenance):
            return False
        # No envelope: only the HTTP status speaks. Edge refusals (401/403/404…) happen
        # before kie sees the request; gateway timeouts and 5xx pages do not.
        return status >= 500 or status == 408

    async def get_task(self, task_id: str) -> TaskRecord:
        """Fetch a task's record from recordInfo."""
        if not isinstance(task_id, str) or not task_id.strip():
            raise KieRequestInvalid("task_id", "must be a non-empty string")
        return await self._read(
            "recordInfo",
            "GET",
            RECORD_INFO_PATH,
            parse_record_info_response,
            params={"taskId": task_id},
        )

    async def get_credits(self) -> int:
        """Return the account's credit balance (free; a good health check)."""
        return await self._read("chat/credit", "GET", CREDIT_PATH, parse_credits_response)

    async def get_download_url(self, url: str) -> str:
        """Exchange a kie-generated file URL for a temporary (20 minute) download URL."""
        if not isinstance(url, str) or not url.strip():
            raise KieRequestInvalid("url", "must be a non-empty string")
        return await self._read(
            "download-url",
            "POST",
            DOWNLOAD_URL_PATH,
            parse_download_url_response,
            payload={"url": url},
        )
