"""Settings: every environment variable the README lists, parsed once into a frozen object.

Nothing here reads the environment at import time; `Settings.from_env()` is called by
`bot.__main__` after `load_dotenv()`. A missing or malformed value raises `SettingsError`
whose message names the variable and never contains the value of a secret. URLs may carry a
password (`postgresql://user:password@host/db`): `repr(Settings)` and every error message
show them with the user name and password replaced, and `secret_values()` hands the
passwords to the log filter (bot/logs.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import TypeVar
from urllib.parse import unquote, urlsplit

__all__ = ["Secret", "Settings", "SettingsError"]

T = TypeVar("T")

DEFAULT_DATABASE_URL = "sqlite:///data/imagine.db"
DEFAULT_KIE_API_BASE_URL = "https://api.kie.ai"
DEFAULT_KIE_RESULT_HOSTS = "aiquickdraw.com,redpandaai.co"
DEFAULT_DISCORD_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_DISCORD_GATEWAY_URL = "wss://gateway.discord.gg/"
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
REDACTED = "**********"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A string that never shows itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret; call only where it is sent."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True, repr=False)
class Settings:
    """The bot's whole configuration (the README's "Configuration" table)."""

    discord_token: Secret | None
    kie_api_key: Secret | None
    database_url: str = DEFAULT_DATABASE_URL
    kie_api_base_url: str = DEFAULT_KIE_API_BASE_URL
    kie_result_hosts: tuple[str, ...] = tuple(DEFAULT_KIE_RESULT_HOSTS.split(","))
    public_base_url: str | None = None
    kie_webhook_hmac_key: Secret | None = None
    web_host: str = "0.0.0.0"
    web_port: int = 8080
    discord_api_base_url: str = DEFAULT_DISCORD_API_BASE_URL
    discord_gateway_url: str = DEFAULT_DISCORD_GATEWAY_URL
    dev_guild_id: int | None = None
    max_jobs_per_member: int = 2
    max_queued_per_member: int = 5
    # How long a silent process keeps its jobs before another takes them (bot/jobs/leases.py).
    job_lease_seconds: float = 30.0
    log_level: str = "INFO"
    # Discord gateway shards: how many the bot has, and which of them this process connects
    # (None: all of them); no SHARD_COUNT: discord.py's automatic sharding.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        required: tuple[str, ...] = ("DISCORD_TOKEN", "KIE_API_KEY"),
    ) -> Settings:
        """Build settings from `environ`, failing on the first bad variable.

        `required` lets `migrate` run without the Discord and kie secrets.
        """
        env = _Reader(environ)
        shard_count, shard_ids = _shards(env)
        return cls(
            discord_token=env.secret("DISCORD_TOKEN", required="DISCORD_TOKEN" in required),
            kie_api_key=env.secret("KIE_API_KEY", required="KIE_API_KEY" in required),
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL, _database_url),
            kie_api_base_url=env.get("KIE_API_BASE_URL", DEFAULT_KIE_API_BASE_URL, _http_url),
            kie_result_hosts=env.get("KIE_RESULT_HOSTS", DEFAULT_KIE_RESULT_HOSTS, _hosts),
            public_base_url=env.optional("PUBLIC_BASE_URL", _http_url),
            kie_webhook_hmac_key=env.secret("KIE_WEBHOOK_HMAC_KEY", required=False),
            web_host=env.get("WEB_HOST", "0.0.0.0", _non_empty),
            web_port=env.get("WEB_PORT", "8080", _port),
            discord_api_base_url=env.get(
                "DISCORD_API_BASE_URL", DEFAULT_DISCORD_API_BASE_URL, _http_url
            ),
            discord_gateway_url=env.get(
                "DISCORD_GATEWAY_URL", DEFAULT_DISCORD_GATEWAY_URL, _ws_url
            ),
            dev_guild_id=env.optional("DEV_GUILD_ID", _snowflake),
            max_jobs_per_member=env.get("MAX_JOBS_PER_MEMBER", "2", _positive_int),
            max_queued_per_member=env.get("MAX_QUEUED_PER_MEMBER", "5", _non_negative_int),
            job_lease_seconds=env.get("JOB_LEASE_SECONDS", "30", _lease_seconds),
            log_level=env.get("LOG_LEVEL", "INFO", _log_level),
            shard_count=shard_count,
            shard_ids=shard_ids,
        )

    @property
    def log_level_number(self) -> int:
        """Return the numeric logging level."""
        return logging.getLevelNamesMapping()[self.log_level]

    def secret_values(self) -> list[str]:
        """Return every secret value, for the log filter: keys, and passwords inside URLs."""
        keys = (self.discord_token, self.kie_api_key, self.kie_webhook_hmac_key)
        values = [key.reveal() for key in keys if key is not None]
        for url in (self.database_url, self.public_base_url):
            values.extend(_passwords(url))
        return values

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str):
                value = without_userinfo(value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


class _Reader:
    """Read variables, turning every parse failure into a SettingsError naming the variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or not value.strip():
            return None
        return value.strip()

    def get(self, name: str, default: str, parse: Callable[[str], T]) -> T:
        raw = self._raw(name)
        return self._parse(name, default if raw is None else raw, parse)

    def optional(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self._raw(name)
        return None if raw is None else self._parse(name, raw, parse)

    def secret(self, name: str, *, required: bool) -> Secret | None:
        raw = self._raw(name)
        if raw is None:
            if required:
                raise SettingsError(f"{name} is required but not set (see .env.example)")
            return None
        if any(ch.isspace() for ch in raw):
            # Say what is wrong without echoing any part of the secret.
            raise SettingsError(f"{name} is malformed: it contains whitespace")
        return Secret(raw)

    @staticmethod
    def _parse(name: str, raw: str, parse: Callable[[str], T]) -> T:
        try:
            return parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name} is malformed: {exc}") from None


def without_userinfo(url: str) -> str:
    """Return `url` with any user name and password replaced, to show it."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    # An '@' only past the host means a user name or password with an unencoded / ? or #:
    # hide everything up to the last '@' rather than guess where the password ends.
    at = authority.rfind("@") if "@" in authority else rest.rfind("@")
    return f"{scheme}://{REDACTED}{rest[at:]}"


def _passwords(url: str | None) -> list[str]:
    """Return the password in `url`'s userinfo, as written and decoded (none: [])."""
    if not url or "://" not in url:
        return []
    authority = re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]
    password = authority.rpartition("@")[0].partition(":")[2]
    return sorted({p for p in (password, unquote(password)) if p})


def _non_empty(raw: str) -> str:
    return raw


_ENCODE = "percent-encode any of : / ? # @ [ ] in the user name or password"


def _database_url(raw: str) -> str:
    if raw.startswith("sqlite:///") and len(raw) > len("sqlite:///"):
        return raw
    if raw.startswith(("postgresql://", "postgres://")):
        _check_postgres_url(raw)
        return raw
    raise ValueError("expected sqlite:///PATH or postgresql://…")


def _check_postgres_url(raw: str) -> None:
    """Refuse what asyncpg would misread, without ever echoing the URL.

    asyncpg splits the URL with urllib and takes what lies between `//` and the first `@` as
    user and password. An unencoded `/ ? # @` in a password moves part of it into the host,
    port or database name, and connection errors then print that part ("invalid literal for
    int() with base 10: 'pass'"), so such URLs stop here, named but never shown.
    """
    if "#" in raw:
        raise ValueError(f"it contains '#'; {_ENCODE}")
    try:
        authority = urlsplit(raw).netloc
    except ValueError:
        raise ValueError(f"it is not a valid URL; {_ENCODE}") from None
    if raw.count("@") > 1 or ("@" in raw and "@" not in authority):
        raise ValueError(f"it has an '@' outside the user name and password; {_ENCODE}")
    for host in authority.rpartition("@")[2].split(","):
        port = re.fullmatch(r"\[[^\]]*\](?::(.*))?|[^:\[\]]*(?::(.*))?", host)
        if port is None:
            raise ValueError(f"a host is not a name, an address or [an IPv6 address]; {_ENCODE}")
        number = port.group(1) or port.group(2) or ""
        if number and not number.isdigit():
            raise ValueError(f"a port is not a number; {_ENCODE}")


def _url(raw: str, schemes: tuple[str, ...]) -> str:
    try:
        parts = urlsplit(raw)
    except ValueError:
        raise ValueError(f"expected a {' or '.join(schemes)} URL") from None
    if parts.scheme not in schemes or not parts.netloc:
        shown = without_userinfo(raw)
        raise ValueError(f"expected a {' or '.join(schemes)} URL, got {shown!r}")
    return raw.rstrip("/")


def _http_url(raw: str) -> str:
    return _url(raw, ("http", "https"))


def _ws_url(raw: str) -> str:
    return _url(raw, ("ws", "wss"))


def _hosts(raw: str) -> tuple[str, ...]:
    hosts = tuple(h.strip().lower().lstrip(".") for h in raw.split(",") if h.strip())
    if not hosts:
        raise ValueError("expected a comma-separated list of host names")
    for host in hosts:
        if "/" in host or ":" in host or " " in host:
            raise ValueError(f"{host!r} is not a host name")
    return hosts


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _port(raw: str) -> int:
    port = _int(raw)
    if not 0 <= port <= 65535:
        raise ValueError(f"expected a port 0-65535, got {port}")
    return port


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError(f"expected an integer of at least 1, got {value}")
    return value


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected an integer of at least 0, got {value}")
    return value


def _lease_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"expected a number of seconds, got {raw!r}") from None
    if not 1 <= value <= 3600:
        raise ValueError(f"expected 1 to 3600 seconds, got {raw}")
    return value


def _shards(env: _Reader) -> tuple[int | None, tuple[int, ...] | None]:
    """Read SHARD_COUNT and SHARD_IDS, which only make sense together."""
    count = env.optional("SHARD_COUNT", _positive_int)
    ids = env.optional("SHARD_IDS", _shard_ids)
    if ids is None:
        return count, None
    if count is None:
        raise SettingsError(
            "SHARD_COUNT is required when SHARD_IDS is set: SHARD_IDS picks shards among "
            "SHARD_COUNT (e.g. SHARD_COUNT=2, SHARD_IDS=0)"
        )
    beyond = [i for i in ids if i >= count]
    if beyond:
        raise SettingsError(
            f"SHARD_IDS is malformed: shard {beyond[0]} is not below SHARD_COUNT ({count}); "
            "shards are numbered from 0"
        )
    return count, ids


def _shard_ids(raw: str) -> tuple[int, ...]:
    ids = tuple(_non_negative_int(part.strip()) for part in raw.split(","))
    if len(set(ids)) != len(ids):
        raise ValueError(f"a shard is listed twice in {raw!r}")
    return tuple(sorted(ids))


def _snowflake(raw: str) -> int:
    value = _int(raw)
    if value <= 0:
        raise ValueError(f"expected a Discord id, got {value}")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level
