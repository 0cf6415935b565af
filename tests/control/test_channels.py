"""Channel settings: modes, enable/disable, defaults and caps, safety, cache."""

from __future__ import annotations

import pytest

from bot.control.audit import recent
from bot.control.channels import (
    ChannelRecord,
    ChannelSettings,
    ChannelSettingsStore,
    check_caps,
    is_allowed,
)
from bot.control.errors import InvalidSetting
from bot.store.database import Database
from tests.control.helpers import ADMIN, GUILD

CHANNEL = 2000
OTHER = 2001
NOW = 1_750_000_000.0


async def test_defaults_without_rows(channels: ChannelSettingsStore) -> None:
    """With nothing set, a channel gets the built-in defaults, no caps and safety on."""
    settings = await channels.get(GUILD, CHANNEL)
    assert settings == ChannelSettings(
        guild_id=GUILD,
        channel_id=CHANNEL,
        enabled=None,
        image_size="square_hd",
        resolution="1K",
        images=1,
        max_resolution=None,
        max_images=None,
        safety=True,
    )
    assert await channels.get_mode(GUILD) == "open"


ALLOWED_CASES = [
    # mode, guild row enabled, channel row enabled, refused?
    ("open", None, None, False),
    ("open", None, False, True),
    ("open", None, True, False),
    ("open", False, None, True),
    ("open", False, True, False),
    ("allowlist", None, None, True),
    ("allowlist", None, True, False),
    ("allowlist", True, None, False),
    ("allowlist", True, False, True),
]


@pytest.mark.parametrize(("mode", "guild_enabled", "channel_enabled", "refused"), ALLOWED_CASES)
async def test_enable_disable_and_mode(
    channels: ChannelSettingsStore, mode, guild_enabled, channel_enabled, refused
) -> None:
    """A channel row's enabled beats the guild row's; unset means what the mode says."""
    await channels.set_mode(GUILD, mode, actor_id=ADMIN, now=NOW)
    for channel_id, enabled in ((None, guild_enabled), (CHANNEL, channel_enabled)):
        if enabled is True:
            await channels.enable(GUILD, channel_id, actor_id=ADMIN, now=NOW)
        elif enabled is False:
            await channels.disable(GUILD, channel_id, actor_id=ADMIN, now=NOW)
    reason = is_allowed(await channels.get(GUILD, CHANNEL), await channels.get_mode(GUILD))
    assert (reason is not None) == refused


def test_refusal_reasons_say_why() -> None:
    """A disabled channel and an allowlist miss give different, readable reasons."""
    base = ChannelSettings.from_records(GUILD, CHANNEL, None, None)
    disabled = ChannelSettings.from_records(GUILD, CHANNEL, None, ChannelRecord(enabled=False))
    assert str(is_allowed(disabled, "open")) == "/imagine is turned off in this channel."
    assert "isn't enabled in this channel" in str(is_allowed(base, "allowlist"))


RESOLVE_CASES = [
    # guild row, channel row, expected (size, resolution, images, max_res, max_images)
    ({}, {}, ("square_hd", "1K", 1, None, None)),
    ({"images": 3}, {}, ("square_hd", "1K", 3, None, None)),
    ({"images": 3}, {"images": 2}, ("square_hd", "1K", 2, None, None)),
    ({"image_size": "portrait_4_3"}, {"resolution": "2K"}, ("portrait_4_3", "2K", 1, None, None)),
    ({"max_images": 2}, {"images": 4}, ("square_hd", "1K", 2, None, 2)),  # default fits cap
    ({"max_images": 2}, {"max_images": 5, "images": 4}, ("square_hd", "1K", 4, None, 5)),
    ({"resolution": "4K"}, {"max_resolution": "2K"}, ("square_hd", "2K", 1, "2K", None)),
]


@pytest.mark.parametrize(("guild_row", "channel_row", "expected"), RESOLVE_CASES)
async def test_guild_row_then_channel_row(
    channels: ChannelSettingsStore, guild_row, channel_row, expected
) -> None:
    """Channel values override guild values, which override the defaults."""
    if guild_row:
        await channels.set(GUILD, None, actor_id=ADMIN, now=NOW, **guild_row)
    if channel_row:
        await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, **channel_row)
    s = await channels.get(GUILD, CHANNEL)
    assert (s.image_size, s.resolution, s.images, s.max_resolution, s.max_images) == expected
    # Another channel sees only the guild row.
    other = await channels.get(GUILD, OTHER)
    assert other.max_images == guild_row.get("max_images")


CAP_CASES = [
    # max_resolution, max_images, asked resolution, asked images, refusal
    (None, None, "4K", 6, None),
    (None, 2, "1K", 2, None),
    (None, 2, "1K", 3, "This channel allows at most 2 images per request."),
    (None, 1, "1K", 2, "This channel allows at most 1 image per request."),
    ("2K", None, "2K", 1, None),
    ("2K", None, "4K", 1, "This channel allows resolutions up to 2K."),
    ("1K", 4, "2K", 4, "This channel allows resolutions up to 1K."),
]


@pytest.mark.parametrize(("max_res", "max_images", "resolution", "images", "refusal"), CAP_CASES)
def test_caps_refuse_and_name_the_cap(max_res, max_images, resolution, images, refusal) -> None:
    """A request over a cap is refused with the cap named, never silently clamped."""
    settings = ChannelSettings.from_records(
        GUILD, CHANNEL, None, ChannelRecord(max_resolution=max_res, max_images=max_images)
    )
    refused = check_caps(settings, resolution=resolution, images=images)
    assert (None if refused is None else str(refused)) == refusal


async def test_safety_off_only_in_age_restricted_channel(channels: ChannelSettingsStore) -> None:
    """Turning safety off is refused unless the caller says the channel is age-restricted."""
    with pytest.raises(InvalidSetting, match="age-restricted"):
        await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, safety=False)
    with pytest.raises(InvalidSetting, match="age-restricted"):
        await channels.set(GUILD, None, actor_id=ADMIN, now=NOW, safety=False, channel_is_nsfw=True)
    assert (await channels.get(GUILD, CHANNEL)).safety is True

    await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, safety=False, channel_is_nsfw=True)
    settings = await channels.get(GUILD, CHANNEL)
    assert settings.safety is False
    assert settings.safety_for(channel_is_nsfw=True) is False
    # If the channel later loses its age restriction, the filter comes back on.
    assert settings.safety_for(channel_is_nsfw=False) is True


INVALID_CASES = [
    {"image_size": "huge"},
    {"resolution": "8K"},
    {"max_resolution": "3K"},
    {"images": 0},
    {"images": 7},
    {"max_images": True},
]


@pytest.mark.parametrize("values", INVALID_CASES)
async def test_invalid_values_refused(channels: ChannelSettingsStore, db: Database, values) -> None:
    """Values the bot can't send to kie are refused, and nothing is written or audited."""
    with pytest.raises(InvalidSetting):
        await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, **values)
    assert await db.fetchval("SELECT COUNT(*) FROM channel_settings") == 0
    assert await recent(db, GUILD) == []


async def test_keep_leaves_and_none_clears(channels: ChannelSettingsStore) -> None:
    """Omitted values stay as they were; None clears a value so the guild row applies."""
    await channels.set(GUILD, None, actor_id=ADMIN, now=NOW, images=2)
    await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, images=4, resolution="2K")
    await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, resolution="4K")
    assert (await channels.get(GUILD, CHANNEL)).images == 4
    await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, images=None)
    settings = await channels.get(GUILD, CHANNEL)
    assert (settings.images, settings.resolution) == (2, "4K")


async def test_writes_invalidate_the_cache(channels: ChannelSettingsStore, db: Database) -> None:
    """Reads are cached, and every write through the store refreshes them."""
    assert (await channels.get(GUILD, CHANNEL)).images == 1
    # Behind the store's back: the cached value is still served (proving there is a cache).
    await db.execute(
        "INSERT INTO channel_settings (guild_id, channel_id, images, updated_at)"
        " VALUES ($1, $2, 5, 0)",
        GUILD,
        CHANNEL,
    )
    assert (await channels.get(GUILD, CHANNEL)).images == 1
    # A guild-wide write invalidates every channel of the guild.
    await channels.set(GUILD, None, actor_id=ADMIN, now=NOW, max_images=3)
    settings = await channels.get(GUILD, CHANNEL)
    assert (settings.images, settings.max_images) == (3, 3)
    await channels.disable(GUILD, CHANNEL, actor_id=ADMIN, now=NOW)
    assert (await channels.get(GUILD, CHANNEL)).enabled is False
    assert await channels.get_mode(GUILD) == "open"
    await channels.set_mode(GUILD, "allowlist", actor_id=ADMIN, now=NOW)
    assert await channels.get_mode(GUILD) == "allowlist"


async def test_bad_mode_refused(channels: ChannelSettingsStore) -> None:
    """Only open and allowlist are modes."""
    with pytest.raises(InvalidSetting, match="open, allowlist"):
        await channels.set_mode(GUILD, "closed", actor_id=ADMIN, now=NOW)


async def test_writes_are_audited_old_to_new(channels: ChannelSettingsStore, db: Database) -> None:
    """Each write leaves one audit row with who, what, when, and old → new."""
    change = await channels.set(GUILD, CHANNEL, actor_id=ADMIN, now=NOW, images=2)
    assert change.old["images"] is None
    assert change.new["images"] == 2
    await channels.enable(GUILD, CHANNEL, actor_id=ADMIN, now=NOW + 1)
    await channels.set_mode(GUILD, "allowlist", actor_id=ADMIN + 1, now=NOW + 2)
    entries = await recent(db, GUILD)
    assert [(e.action, e.target, e.actor_id) for e in entries] == [
        ("mode.set", "guild", ADMIN + 1),
        ("channel.enable", f"channel:{CHANNEL}", ADMIN),
        ("channel.set", f"channel:{CHANNEL}", ADMIN),
    ]
    assert (entries[0].old, entries[0].new) == ("open", "allowlist")
    assert (entries[1].old["enabled"], entries[1].new["enabled"]) == (None, True)
    assert entries[2].created_at == NOW
