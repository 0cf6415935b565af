"""Logging: no token or password reaches the log at any level, DEBUG included."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import aiohttp
import discord
import discord.http
import pytest
from aiohttp import web
from discord.http import MultipartParameters
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.logs import REDACTED, RedactSecrets, redact, setup_logging
from bot.settings import Settings
from bot.store.database import SqliteDatabase

APP_ID = 1234567890123456789
INTERACTION_ID = 1111111111111111111
# The shape of a real interaction token (base64url of "interaction:<id>:..." and more).
TOKEN = "aW50ZXJhY3Rpb246MTExMTExMTExMTExMTExMTExMTp1bmd1ZXNzYWJsZQ-_xyz.123"
LOGGERS = ("discord.http", "discord.gateway", "aiohttp.access", "aiosqlite")
SWITCHES = ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the loggers setup_logging tunes back as they were."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    # The record fields setup_logging stops looking up (the format shows none of them).
    switches = {name: getattr(logging, name) for name in SWITCHES}
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        for name, value in switches.items():
            setattr(logging, name, value)


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """A Discord REST stand-in answering webhook and interaction calls with 204."""

    async def no_content(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v10/webhooks/{app_id}/{token}", no_content)
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", no_content)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.usefixtures("restore_logging")
async def test_debug_run_of_discord_webhook_calls_shows_no_token(
    fake_discord: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """At DEBUG discord.py logs each webhook and interaction request URL; the token in it is
    scrubbed, the rest of the line kept."""
    setup_logging(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        await discord.Webhook.partial(APP_ID, TOKEN, session=session).send("hello")
        await AsyncWebhookAdapter().create_interaction_response(
            INTERACTION_ID,
            TOKEN,
            session=session,
            params=MultipartParameters(payload={"type": 5}, multipart=None, files=None),
        )
    err = capsys.readouterr().err
    assert f"/webhooks/{APP_ID}/{REDACTED}" in err
    assert f"/interactions/{INTERACTION_ID}/{REDACTED}/callback" in err
    assert TOKEN not in err


@pytest.mark.parametrize(
    "line",
    [
        f"POST https://discord.com/api/v10/webhooks/{APP_ID}/{TOKEN}/messages/@original",
        f"POST https://discord.com/api/v10/webhooks/{APP_ID}/{TOKEN}?wait=1 responded with 429",
        f"http://127.0.0.1:1/api/v10/interactions/{INTERACTION_ID}/{TOKEN}/callback",
        f"URL('https://discord.com/api/webhooks/{APP_ID}/{TOKEN}')",
        f"WebSocket Event: {{'t': 'INTERACTION_CREATE', 'd': {{'id': '1', 'token': '{TOKEN}'}}}}",
        f'{{"type": 2, "token": "{TOKEN}"}}',
        f"POST /kie/callback/{TOKEN} 200",
        f"https://u:{TOKEN}@bot.example.com/kie/callback",
    ],
)
def test_token_shapes_are_scrubbed(line: str) -> None:
    """Each place a token shows in discord.py's, aiohttp's or our own lines is scrubbed."""
    scrubbed = redact(line)
    assert TOKEN not in scrubbed
    assert REDACTED in scrubbed


def test_ordinary_urls_are_kept() -> None:
    """Lines without secrets pass unchanged."""
    for line in (
        "GET https://discord.com/api/v10/users/@me with None has returned 200",
        "POST https://discord.com/api/v10/channels/1/messages has returned 200",
        "kie POST /api/v1/jobs/createTask -> HTTP 200",
        "someone@example.com wrote 'token' in a prompt",
    ):
        assert redact(line) == line


@pytest.mark.usefixtures("restore_logging")
def test_tracebacks_and_arguments_are_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    """A token inside an exception (aiohttp's timeout errors carry the URL) or a %s argument
    is scrubbed too."""
    setup_logging(logging.INFO)
    log = logging.getLogger("bot.test")
    url = f"https://discord.com/api/v10/webhooks/{APP_ID}/{TOKEN}"
    try:
        raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}")
    except aiohttp.ClientError:
        log.exception("delivery failed")
    log.warning("retrying %s", url)
    err = capsys.readouterr().err
    assert "ConnectionTimeoutError" in err and "retrying" in err
    assert TOKEN not in err


@pytest.mark.usefixtures("restore_logging")
def test_database_and_public_url_passwords_never_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Passwords from DATABASE_URL and PUBLIC_BASE_URL are scrubbed wherever they show: in a
    URL (even a short one) and alone (a long one)."""
    settings = Settings.from_env(
        {
            "DISCORD_TOKEN": "discord-secret-token-value",
            "KIE_API_KEY": "kie-secret-key-value",
            "DATABASE_URL": "postgresql://bot:pgpassword-123@db.internal:5432/imagine",
            "PUBLIC_BASE_URL": "https://hook:pw@bot.example.com",
        }
    )
    setup_logging(logging.DEBUG, settings.secret_values())
    log = logging.getLogger("bot.test")
    log.info("database at %s", settings.database_url)
    log.error("authentication failed with password pgpassword-123")
    log.info("callbacks at %s/kie/callback/x", settings.public_base_url)
    err = capsys.readouterr().err
    assert "pgpassword-123" not in err
    assert ":pw@" not in err
    assert "db.internal:5432/imagine" in err and "bot.example.com" in err


@pytest.mark.usefixtures("restore_logging")
async def test_debug_run_of_sqlite_shows_no_parameters(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    """aiosqlite logs every call with its parameters at DEBUG (a job's interaction token
    among them): its logger stays quiet."""
    setup_logging(logging.DEBUG)
    db = await SqliteDatabase.open(str(tmp_path / "test.db"))
    try:
        await db.execute("CREATE TABLE t (token TEXT)")
        await db.execute("INSERT INTO t (token) VALUES ($1)", TOKEN)
    finally:
        await db.close()
    assert TOKEN not in capsys.readouterr().err


def test_unformattable_record_shows_no_raw_secret() -> None:
    """A log call whose arguments don't fit its format still goes out scrubbed."""
    record = logging.LogRecord(
        "bot.test", logging.INFO, __file__, 1, "%s %s", (f"/kie/callback/{TOKEN}",), None
    )
    assert RedactSecrets().filter(record)
    assert TOKEN not in record.getMessage()
