"""Settings: defaults, fail-fast errors naming the variable, secrets never shown."""

from __future__ import annotations

import pytest

from bot.settings import Secret, Settings, SettingsError

BASE = {"DISCORD_TOKEN": "discord-secret-token-value", "KIE_API_KEY": "kie-secret-key-value"}


def test_defaults_match_spec() -> None:
    """Every optional variable takes its documented default (README: Configuration)."""
    s = Settings.from_env(BASE)
    assert s.database_url == "sqlite:///data/imagine.db"
    assert s.kie_api_base_url == "https://api.kie.ai"
    assert s.kie_result_hosts == ("aiquickdraw.com", "redpandaai.co")
    assert s.public_base_url is None
    assert s.kie_webhook_hmac_key is None
    assert (s.web_host, s.web_port) == ("0.0.0.0", 8080)
    assert s.discord_api_base_url == "https://discord.com/api/v10"
    assert s.discord_gateway_url.startswith("wss://gateway.discord.gg")
    assert s.dev_guild_id is None
    assert s.max_jobs_per_member == 2
    assert s.max_queued_per_member == 5
    assert s.log_level == "INFO"


def test_every_variable_is_read() -> None:
    """Each variable in the README's configuration table changes the setting it names."""
    env = {
        **BASE,
        "DATABASE_URL": "postgresql://u@h/db",
        "KIE_API_BASE_URL": "http://127.0.0.1:9000/",
        "KIE_RESULT_HOSTS": "Example.com, .cdn.test",
        "PUBLIC_BASE_URL": "https://bot.example.com",
        "KIE_WEBHOOK_HMAC_KEY": "hmac-key-123",
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": "9999",
        "DISCORD_API_BASE_URL": "http://127.0.0.1:1/api/v10",
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:1/gateway",
        "DEV_GUILD_ID": "123456789012345678",
        "MAX_JOBS_PER_MEMBER": "5",
        "MAX_QUEUED_PER_MEMBER": "0",
        "LOG_LEVEL": "debug",
    }
    s = Settings.from_env(env)
    assert s.database_url == "postgresql://u@h/db"
    assert s.kie_api_base_url == "http://127.0.0.1:9000"
    assert s.kie_result_hosts == ("example.com", "cdn.test")
    assert s.public_base_url == "https://bot.example.com"
    assert s.kie_webhook_hmac_key == Secret("hmac-key-123")
    assert (s.web_host, s.web_port) == ("127.0.0.1", 9999)
    assert s.discord_api_base_url == "http://127.0.0.1:1/api/v10"
    assert s.discord_gateway_url == "ws://127.0.0.1:1/gateway"
    assert s.dev_guild_id == 123456789012345678
    assert s.max_jobs_per_member == 5
    assert s.max_queued_per_member == 0
    assert s.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DISCORD_TOKEN", None),
        ("KIE_API_KEY", None),
        ("DISCORD_TOKEN", "   "),
        ("DATABASE_URL", "mysql://x"),
        ("KIE_API_BASE_URL", "api.kie.ai"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("WEB_PORT", "http"),
        ("WEB_PORT", "70000"),
        ("DISCORD_GATEWAY_URL", "http://x"),
        ("DEV_GUILD_ID", "abc"),
        ("MAX_JOBS_PER_MEMBER", "0"),
        ("MAX_QUEUED_PER_MEMBER", "-1"),
        ("MAX_QUEUED_PER_MEMBER", "five"),
        ("LOG_LEVEL", "LOUD"),
        ("KIE_RESULT_HOSTS", " , "),
        ("KIE_RESULT_HOSTS", "http://x.com/"),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str | None) -> None:
    """A missing or malformed value raises one error naming the variable."""
    env = dict(BASE)
    if value is None:
        del env[name]
    else:
        env[name] = value
    with pytest.raises(SettingsError, match=f"^{name} "):
        Settings.from_env(env)


def test_secrets_never_shown() -> None:
    """repr/str of settings and of errors never contain a secret."""
    s = Settings.from_env({**BASE, "KIE_WEBHOOK_HMAC_KEY": "hmac-secret-value"})
    text = repr(s) + str(s)
    for secret in (*BASE.values(), "hmac-secret-value"):
        assert secret not in text
    assert s.kie_api_key is not None and s.kie_api_key.reveal() == BASE["KIE_API_KEY"]
    with pytest.raises(SettingsError) as err:
        Settings.from_env({**BASE, "KIE_API_KEY": "has space-secret"})
    assert "space-secret" not in str(err.value)


def test_migrate_needs_no_secrets() -> None:
    """`required=()` lets migrate run with only the database configured."""
    s = Settings.from_env({}, required=())
    assert s.discord_token is None and s.kie_api_key is None


def test_url_passwords_never_shown_in_repr() -> None:
    """repr/str of settings hide the user name and password of DATABASE_URL and
    PUBLIC_BASE_URL, keeping where they point."""
    s = Settings.from_env(
        {
            **BASE,
            "DATABASE_URL": "postgresql://user:pw@host/db",
            "PUBLIC_BASE_URL": "https://hook:hook-secret@bot.example.com",
        }
    )
    text = repr(s) + str(s)
    assert ":pw@" not in text and "hook-secret" not in text
    assert "postgresql://**********@host/db" in text
    assert "https://**********@bot.example.com" in text
    # The values themselves are intact for the code that connects.
    assert s.database_url == "postgresql://user:pw@host/db"
    assert {"pw", "hook-secret"} <= set(s.secret_values())


@pytest.mark.parametrize(
    "url",
    [
        # asyncpg would read part of each password as a port, a host or a database name,
        # and its connection errors would then print it.
        "postgresql://user:s3cretpw/x@127.0.0.1/db",
        "postgresql://user:s3cretpw#x@127.0.0.1/db",
        "postgresql://user:s3cretpw?x@127.0.0.1/db",
        "postgresql://user:s3c@retpw@127.0.0.1/db",
        "postgresql://user:s3cretpw@127.0.0.1:s3cretpw/db",
        "postgresql://user:s3cretpw@[::1/db",
        "mysql://user:s3cretpw@127.0.0.1/db",
    ],
)
def test_malformed_database_url_error_hides_the_password(url: str) -> None:
    """A malformed DATABASE_URL stops start-up naming the variable, never showing the password."""
    with pytest.raises(SettingsError, match=r"^DATABASE_URL is malformed") as err:
        Settings.from_env({**BASE, "DATABASE_URL": url})
    assert "s3c" not in str(err.value) and "retpw" not in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:p%2F%40ss@db.internal:5432/imagine",
        "postgres://user@db.internal/imagine",
        "postgresql://h1:5432,h2:5433/imagine",
        "postgresql://[::1]:5432/imagine",
        "postgresql:///imagine?host=/var/run/postgresql",
        "postgresql://",
    ],
)
def test_wellformed_database_urls_accepted(url: str) -> None:
    """Encoded passwords, several hosts, IPv6 and socket directories are all fine."""
    assert Settings.from_env({**BASE, "DATABASE_URL": url}).database_url == url


def test_malformed_url_error_hides_userinfo() -> None:
    """A malformed URL setting is echoed without its user name and password."""
    with pytest.raises(SettingsError, match=r"^PUBLIC_BASE_URL ") as err:
        Settings.from_env({**BASE, "PUBLIC_BASE_URL": "ftp://user:s3cretpw@bot.example.com"})
    assert "s3cretpw" not in str(err.value)
    assert "bot.example.com" in str(err.value)


def test_shards_unset_by_default_and_read_together() -> None:
    """No SHARD_COUNT: unsharded; SHARD_COUNT alone: all its shards; with SHARD_IDS: those."""
    s = Settings.from_env(BASE)
    assert (s.shard_count, s.shard_ids) == (None, None)
    s = Settings.from_env({**BASE, "SHARD_COUNT": "4"})
    assert (s.shard_count, s.shard_ids) == (4, None)
    s = Settings.from_env({**BASE, "SHARD_COUNT": "4", "SHARD_IDS": " 3, 1 "})
    assert (s.shard_count, s.shard_ids) == (4, (1, 3))


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SHARD_IDS": "0"}, "SHARD_COUNT is required when SHARD_IDS is set"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "2"}, "SHARD_IDS is malformed: shard 2 is not below"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,0"}, "SHARD_IDS is malformed: a shard is listed"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "0,"}, "SHARD_IDS is malformed: expected an integer"),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "-1"}, "SHARD_IDS is malformed: expected an integer"),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT is malformed"),
        ({"SHARD_COUNT": "two"}, "SHARD_COUNT is malformed"),
    ],
)
def test_bad_shards_name_the_variable(env: dict[str, str], message: str) -> None:
    """A bad shard setting stops the start with one line naming the variable at fault."""
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({**BASE, **env})
