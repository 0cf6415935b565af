"""Where /imagine may run, and each channel's defaults, caps and safety.

Settings are rows keyed (guild_id, channel_id); the guild-wide row has channel_id 0. A
channel's value overrides the guild row's, which overrides the built-in default (first apply
the guild level, then the channel level). A NULL value means "not set here".

Caps refuse rather than clamp: a member who asks for 4 images where 2 are allowed is told so
("This channel allows at most 2 images per request") instead of silently getting fewer while
the request looks accepted. Defaults are different: nobody asked for them, so a default above
a cap is lowered to the cap when settings are resolved.

Safety (kie's content filter) is on unless a channel row turns it off, which the store allows
only for a channel the caller says is age-restricted; the guild row can never turn it off.

Reads go through an in-process cache that every write in this class invalidates, in every
process sharing the database (bot/control/notices.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal, get_args

from bot.cluster.notify import Notifier
from bot.control import audit
from bot.control.audit import Change
from bot.control.errors import InvalidSetting
from bot.control.notices import GuildNotices
from bot.i18n import Text, _, ngettext
from bot.kie import MAX_IMAGES, ImageSize, Resolution
from bot.store.database import Connection, Database

__all__ = [
    "DEFAULT_IMAGES",
    "DEFAULT_RESOLUTION",
    "DEFAULT_SIZE",
    "IMAGE_SIZES",
    "KEEP",
    "MAX_IMAGES",
    "RESOLUTIONS",
    "ChannelRecord",
    "ChannelSettings",
    "ChannelSettingsStore",
    "Mode",
    "check_caps",
    "is_allowed",
]

Mode = Literal["open", "allowlist"]
MODES: tuple[Mode, ...] = get_args(Mode)

# One source of truth for what kie accepts: bot.kie's enums.
IMAGE_SIZES = tuple(size.value for size in ImageSize)
RESOLUTIONS = tuple(r.value for r in Resolution)  # in increasing order: caps compare by position
DEFAULT_SIZE = "square_hd"
DEFAULT_RESOLUTION = "1K"
DEFAULT_IMAGES = 1

_GUILD_ROW: Final = 0


class _Keep:
    """The type of KEEP."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
"""Passed for a setting that a write should leave as it is (None clears it instead)."""


@dataclass(frozen=True, slots=True)
class ChannelRecord:
    """The values one settings row sets (None = not set here)."""

    enabled: bool | None = None
    image_size: str | None = None
    resolution: str | None = None
    images: int | None = None
    max_resolution: str | None = None
    max_images: int | None = None
    safety: bool | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | None) -> ChannelRecord:
        """Build from a channel_settings row (None → an empty record)."""
        if row is None:
            return cls()
        return cls(
            enabled=_flag(row["enabled"]),
            image_size=row["image_size"],
            resolution=row["resolution"],
            images=row["images"],
            max_resolution=row["max_resolution"],
            max_images=row["max_images"],
            safety=_flag(row["safety"]),
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the values as a dict, for the audit trail."""
        return asdict(self)


def _flag(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _smallint(value: bool | None) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """What applies in one channel once guild and channel rows are merged."""

    guild_id: int
    channel_id: int | None
    enabled: bool | None  # None: neither row says; the guild's mode decides
    image_size: str
    resolution: str
    images: int
    max_resolution: str | None
    max_images: int | None
    safety: bool

    @classmethod
    def from_records(
        cls,
        guild_id: int,
        channel_id: int | None,
        guild: ChannelRecord | None,
        channel: ChannelRecord | None,
    ) -> ChannelSettings:
        """Resolve: channel value, else guild value, else the default; defaults fit the caps."""
        guild = guild or ChannelRecord()
        channel = channel or ChannelRecord()

        def pick(name: str) -> Any:
            value = getattr(channel, name)
            return getattr(guild, name) if value is None else value

        max_images = pick("max_images")
        max_resolution = pick("max_resolution")
        images = pick("images") or DEFAULT_IMAGES
        resolution = pick("resolution") or DEFAULT_RESOLUTION
        if max_images is not None:
            images = min(images, max_images)
        if max_resolution is not None and _rank(resolution) > _rank(max_resolution):
            resolution = max_resolution
        safety = pick("safety")
        return cls(
            guild_id=guild_id,
            channel_id=channel_id,
            enabled=pick("enabled"),
            image_size=pick("image_size") or DEFAULT_SIZE,
            resolution=resolution,
            images=images,
            max_resolution=max_resolution,
            max_images=max_images,
            safety=True if safety is None else safety,
        )

    def safety_for(self, channel_is_nsfw: bool) -> bool:
        """Return whether to send kie's content filter, given the channel's age restriction now."""
        # A channel may lose its age restriction after safety was turned off there.
        return self.safety or not channel_is_nsfw


def _rank(resolution: str) -> int:
    return RESOLUTIONS.index(resolution)


def is_allowed(settings: ChannelSettings, mode: Mode) -> Text | None:
    """Return None if /imagine may run in this channel, else the reason it may not."""
    if settings.enabled is False:
        return _("/imagine is turned off in this channel.")
    if mode == "allowlist" and settings.enabled is not True:
        return _("/imagine isn't enabled in this channel; ask an admin to enable it.")
    return None


def check_caps(settings: ChannelSettings, *, resolution: str, images: int) -> Text | None:
    """Return None if the request fits the channel's caps, else the cap it exceeds."""
    if settings.max_images is not None and images > settings.max_images:
        return ngettext(
            "This channel allows at most {n} image per request.",
            "This channel allows at most {n} images per request.",
            settings.max_images,
        )
    if settings.max_resolution is not None and _rank(resolution) > _rank(settings.max_resolution):
        return _(
            "This channel allows resolutions up to {resolution}.",
            resolution=settings.max_resolution,
        )
    return None


class ChannelSettingsStore:
    """Channel settings and guild modes, read through a cache that writes invalidate."""

    def __init__(
        self, db: Database, *, cache_size: int = 4096, notifier: Notifier | None = None
    ) -> None:
        self._db = db
        self._cache_size = cache_size
        self._settings: OrderedDict[tuple[int, int | None], ChannelSettings] = OrderedDict()
        self._modes: dict[int, Mode] = {}
        # Bumped on every write to a guild (`_epoch`: to any), so a read that raced a write
        # isn't cached.
        self._generation: dict[int, int] = {}
        self._epoch = 0
        self._notices = GuildNotices(
            notifier, "control.channels", forget=self.invalidate, forget_all=self.invalidate_all
        )

    def invalidate(self, guild_id: int) -> None:
        """Forget everything cached for the guild."""
        self._generation[guild_id] = self._generation.get(guild_id, 0) + 1
        self._modes.pop(guild_id, None)
        for key in [key for key in self._settings if key[0] == guild_id]:
            del self._settings[key]

    def invalidate_all(self) -> None:
        """Forget everything cached."""
        self._epoch += 1
        self._modes.clear()
        self._settings.clear()

    def _stamp(self, guild_id: int) -> tuple[int, int]:
        return self._epoch, self._generation.get(guild_id, 0)

    async def get(self, guild_id: int, channel_id: int | None) -> ChannelSettings:
        """Return the settings that apply in the channel (None: the guild-wide settings)."""
        key = (guild_id, channel_id)
        cached = self._settings.get(key)
        if cached is not None:
            self._settings.move_to_end(key)
            return cached
        stamp = self._stamp(guild_id)
        rows = await self._db.fetch(
            "SELECT * FROM channel_settings WHERE guild_id = $1 AND channel_id IN (0, $2)",
            guild_id,
            _GUILD_ROW if channel_id is None else channel_id,
        )
        by_channel = {int(row["channel_id"]): ChannelRecord.from_row(row) for row in rows}
        settings = ChannelSettings.from_records(
            guild_id,
            channel_id,
            by_channel.get(_GUILD_ROW),
            None if channel_id is None else by_channel.get(channel_id),
        )
        if self._stamp(guild_id) == stamp:
            self._settings[key] = settings
            if len(self._settings) > self._cache_size:
                self._settings.popitem(last=False)
        return settings

    async def get_mode(self, guild_id: int) -> Mode:
        """Return the guild's mode: open (the default) or allowlist."""
        if guild_id in self._modes:
            return self._modes[guild_id]
        stamp = self._stamp(guild_id)
        value = await self._db.fetchval(
            "SELECT mode FROM guild_settings WHERE guild_id = $1", guild_id
        )
        mode: Mode = "allowlist" if value == "allowlist" else "open"
        if self._stamp(guild_id) == stamp:
            self._modes[guild_id] = mode
        return mode

    async def set_mode(self, guild_id: int, mode: str, *, actor_id: int, now: float) -> Change:
        """Set the guild's mode and audit it."""
        if mode not in MODES:
            raise InvalidSetting(_("Mode must be one of {modes}.", modes=", ".join(MODES)))
        try:
            async with self._db.transaction() as tx:
                await tx.execute(
                    "INSERT INTO guild_settings (guild_id, mode, updated_at)"
                    " VALUES ($1, 'open', $2) ON CONFLICT (guild_id) DO NOTHING",
                    guild_id,
                    now,
                )
                # Locks the row before reading it, so the audited old value is the real one.
                await tx.execute(
                    "UPDATE guild_settings SET updated_at = $2 WHERE guild_id = $1", guild_id, now
                )
                old = await tx.fetchval(
                    "SELECT mode FROM guild_settings WHERE guild_id = $1", guild_id
                )
                await tx.execute(
                    "UPDATE guild_settings SET mode = $2 WHERE guild_id = $1", guild_id, mode
                )
                await self._notices.changed(tx, guild_id)
                return await audit.record(
                    tx,
                    guild_id=guild_id,
                    actor_id=actor_id,
                    action="mode.set",
                    target="guild",
                    old=old,
                    new=mode,
                    now=now,
                )
        finally:
            self.invalidate(guild_id)

    async def enable(
        self, guild_id: int, channel_id: int | None, *, actor_id: int, now: float
    ) -> Change:
        """Enable /imagine in the channel (None: guild-wide) and audit it."""
        return await self.set(guild_id, channel_id, actor_id=actor_id, now=now, enabled=True)

    async def disable(
        self, guild_id: int, channel_id: int | None, *, actor_id: int, now: float
    ) -> Change:
        """Disable /imagine in the channel (None: guild-wide) and audit it."""
        return await self.set(guild_id, channel_id, actor_id=actor_id, now=now, enabled=False)

    async def set(
        self,
        guild_id: int,
        channel_id: int | None,
        *,
        actor_id: int,
        now: float,
        channel_is_nsfw: bool = False,
        enabled: bool | _Keep | None = KEEP,
        image_size: str | _Keep | None = KEEP,
        resolution: str | _Keep | None = KEEP,
        images: int | _Keep | None = KEEP,
        max_resolution: str | _Keep | None = KEEP,
        max_images: int | _Keep | None = KEEP,
        safety: bool | _Keep | None = KEEP,
    ) -> Change:
        """Change the given values of a channel row (None: the guild row) and audit old → new.

        KEEP leaves a value as it is; None clears it so the guild row or default applies.
        """
        changes: dict[str, Any] = {
            name: value
            for name, value in {
                "enabled": enabled,
                "image_size": image_size,
                "resolution": resolution,
                "images": images,
                "max_resolution": max_resolution,
                "max_images": max_images,
                "safety": safety,
            }.items()
            if not isinstance(value, _Keep)
        }
        _validate(changes, channel_id=channel_id, channel_is_nsfw=channel_is_nsfw)
        row_id = _GUILD_ROW if channel_id is None else channel_id
        try:
            async with self._db.transaction() as tx:
                old = await _locked_record(tx, guild_id, row_id, now)
                new = replace(old, **changes)
                await tx.execute(
                    "UPDATE channel_settings SET enabled = $3, image_size = $4, resolution = $5,"
                    " images = $6, max_resolution = $7, max_images = $8, safety = $9,"
                    " updated_at = $10 WHERE guild_id = $1 AND channel_id = $2",
                    guild_id,
                    row_id,
                    _smallint(new.enabled),
                    new.image_size,
                    new.resolution,
                    new.images,
                    new.max_resolution,
                    new.max_images,
                    _smallint(new.safety),
                    now,
                )
                await self._notices.changed(tx, guild_id)
                action = "channel.set"
                if list(changes) == ["enabled"] and changes["enabled"] is not None:
                    action = "channel.enable" if changes["enabled"] else "channel.disable"
                return await audit.record(
                    tx,
                    guild_id=guild_id,
                    actor_id=actor_id,
                    action=action,
                    target="guild" if channel_id is None else f"channel:{channel_id}",
                    old=old.to_dict(),
                    new=new.to_dict(),
                    now=now,
                )
        finally:
            self.invalidate(guild_id)


async def _locked_record(tx: Connection, guild_id: int, row_id: int, now: float) -> ChannelRecord:
    """Create the row if missing, lock it, and return its current values."""
    await tx.execute(
        "INSERT INTO channel_settings (guild_id, channel_id, updated_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (guild_id, channel_id) DO NOTHING",
        guild_id,
        row_id,
        now,
    )
    # An UPDATE takes PostgreSQL's row lock (SQLite's BEGIN IMMEDIATE already serialises), so
    # two admins editing one channel can't lose each other's change.
    await tx.execute(
        "UPDATE channel_settings SET updated_at = $3 WHERE guild_id = $1 AND channel_id = $2",
        guild_id,
        row_id,
        now,
    )
    row = await tx.fetchrow(
        "SELECT * FROM channel_settings WHERE guild_id = $1 AND channel_id = $2", guild_id, row_id
    )
    return ChannelRecord.from_row(row)


def _validate(changes: Mapping[str, Any], *, channel_id: int | None, channel_is_nsfw: bool) -> None:
    """Raise InvalidSetting for a value the bot can't use."""
    size = changes.get("image_size")
    if size is not None and size not in IMAGE_SIZES:
        raise InvalidSetting(_("Size must be one of {sizes}.", sizes=", ".join(IMAGE_SIZES)))
    for name in ("resolution", "max_resolution"):
        value = changes.get(name)
        if value is not None and value not in RESOLUTIONS:
            raise InvalidSetting(
                _("Resolution must be one of {resolutions}.", resolutions=", ".join(RESOLUTIONS))
            )
    for name in ("images", "max_images"):
        value = changes.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_IMAGES
        ):
            raise InvalidSetting(
                _("Images must be a whole number from 1 to {most}.", most=MAX_IMAGES)
            )
    if changes.get("safety") is False:
        if channel_id is None:
            raise InvalidSetting(_("Safety can only be turned off for one age-restricted channel."))
        if not channel_is_nsfw:
            raise InvalidSetting(_("Safety can only be turned off in an age-restricted channel."))
