"""Entry point: `python -m bot` runs the bot; `check` and `migrate` are for operators;
`demo` runs it against the bundled stand-ins and writes a transcript (bot/demo/)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence

import aiohttp
import discord
from dotenv import find_dotenv, load_dotenv

from bot.kie import CREDITS_PER_IMAGE, DEFAULT_USER_AGENT, KieClient, KieError, KieLimiter
from bot.logs import setup_logging
from bot.settings import Settings, SettingsError
from bot.store.database import open_database
from bot.store.migrate import apply_migrations, current_version

log = logging.getLogger("bot")

# What the bot needs in a channel, and nothing more (README "Invite the bot" says why).
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(application_id: int) -> str:
    """Return the OAuth2 URL that adds the bot with exactly the scopes and permissions it needs."""
    return (
        f"https://discord.com/oauth2/authorize?client_id={application_id}"
        f"&scope={'+'.join(INVITE_SCOPES)}&permissions={INVITE_PERMISSIONS.value}"
    )


def application_id_from_token(token: str) -> int | None:
    """Read the bot's id from the first part of its token (base64 of the id), if it has one."""
    first = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(first + "=" * (-len(first) % 4), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(decoded) if decoded.isdigit() else None


def _secrets(settings: Settings) -> list[str]:
    # The keys, and the passwords in DATABASE_URL and PUBLIC_BASE_URL.
    return settings.secret_values()


async def migrate(settings: Settings) -> int:
    """Apply pending migrations and report the schema version."""
    db = await open_database(settings.database_url)
    try:
        applied = await apply_migrations(db, now=time.time())
        version = await current_version(db)
    finally:
        await db.close()
    print(f"database at schema version {version} ({len(applied)} migration(s) applied)")
    return 0


async def check(settings: Settings) -> int:
    """Validate settings, the database and the kie key; print the invite URL."""
    assert settings.kie_api_key is not None and settings.discord_token is not None
    failures = 0
    print("settings: ok")
    try:
        db = await open_database(settings.database_url)
        try:
            version = await current_version(db)
        finally:
            await db.close()
        print(f"database: ok (schema version {version})")
    except Exception as exc:  # noqa: BLE001 - report any driver error as one line
        failures += 1
        print(f"database: FAILED ({type(exc).__name__}: {exc})")
    async with aiohttp.ClientSession(headers={"User-Agent": DEFAULT_USER_AGENT}) as session:
        kie = KieClient(
            session,
            base_url=settings.kie_api_base_url,
            api_key=settings.kie_api_key.reveal(),
            limiter=KieLimiter(),
        )
        try:
            credits = await kie.get_credits()
            # Exact, as kie reported it (fractions included); ":f" never prints an exponent.
            images = max(0, int(credits // CREDITS_PER_IMAGE))
            print(f"kie.ai: ok (credit balance {credits:f}, about {images} images)")
        except KieError as exc:
            failures += 1
            print(f"kie.ai: FAILED ({exc})")
    app_id = application_id_from_token(settings.discord_token.reveal())
    if app_id is None:
        failures += 1
        print("discord: FAILED (DISCORD_TOKEN does not look like a bot token)")
    else:
        print(f"invite URL: {invite_url(app_id)}")
    return 1 if failures else 0


async def run(settings: Settings) -> int:
    """Run the bot until SIGINT or SIGTERM, then shut down gracefully."""
    from bot.runtime import run_bot  # discord wiring only when actually running

    return await run_bot(settings)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, load settings and run the chosen command."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["demo"]:
        # Needs no settings and reads no .env: it brings its own Discord and kie.ai.
        from bot.demo.run import main as demo

        return demo(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=("run", "check", "migrate", "demo"),
        help="run the bot (default), check the configuration, apply migrations, or run the "
        "demo (python -m bot demo --help)",
    )
    args = parser.parse_args(argv)
    # usecwd: the `.env` of the working directory (README), not of wherever bot/ is installed.
    load_dotenv(find_dotenv(usecwd=True))
    required = () if args.command == "migrate" else ("DISCORD_TOKEN", "KIE_API_KEY")
    try:
        settings = Settings.from_env(os.environ, required=required)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level_number, _secrets(settings))
    command = {"run": run, "check": check, "migrate": migrate}[args.command]
    try:
        return asyncio.run(command(settings))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    # SIGTERM should end the bot like Ctrl-C does; run_bot installs its own handlers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
