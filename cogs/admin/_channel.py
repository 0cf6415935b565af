"""/imagine-admin channel: where /imagine works, and each channel's defaults and caps."""

from __future__ import annotations

from typing import Any

from discord import app_commands

from bot.control import KEEP, is_allowed
from bot.errors import UserFacingError
from bot.i18n import Text, _
from bot.kie import MAX_IMAGES
from cogs._common import RESOLUTION_CHOICES, SIZE_CHOICES, is_nsfw, lang_for
from cogs.admin import _embeds as ui
from cogs.admin._base import (
    AdminGroup,
    Interaction,
    TargetChannel,
    control,
    defer,
    guild_id,
    here,
    reply,
    writer,
)

__all__ = ["CLEARABLE", "ChannelGroup", "settings_to_write"]

# Settings `channel set` can forget (so the server default applies again), by option name.
CLEARABLE = {
    "image_size": "size",
    "resolution": "resolution",
    "images": "images",
    "max_resolution": "max_resolution",
    "max_images": "max_images",
    "safety": "safety",
}
CLEAR_CHOICES = [
    app_commands.Choice(name="all (every setting below)", value="all"),
    *(app_commands.Choice(name=option, value=option) for option in CLEARABLE.values()),
]
CHANNEL_HELP = "The channel (default: this one)"


def settings_to_write(given: dict[str, Any], clear: str | None) -> dict[str, Any]:
    """Return each setting's new value, None to forget it, or KEEP; refuse a no-op."""
    values: dict[str, Any] = dict.fromkeys(given, KEEP)
    if clear is not None:
        cleared = (
            list(CLEARABLE)
            if clear == "all"
            else [name for name, option in CLEARABLE.items() if option == clear]
        )
        values.update(dict.fromkeys(cleared, None))
        if clear != "all":
            [name] = cleared
            if given[name] is not None:
                raise UserFacingError(
                    _("You both set and cleared `{option}`; do one or the other.", option=clear)
                )
    values.update({name: value for name, value in given.items() if value is not None})
    if all(value is KEEP for value in values.values()):
        raise UserFacingError(
            _(
                "Give at least one setting to change (size, resolution, images, "
                "max_resolution, max_images, safety) or one to `clear`."
            )
        )
    return values


async def _now_line(interaction: Interaction, channel: Any) -> Text:
    """Say whether members can use /imagine in `channel` now, mode included."""
    gid = guild_id(interaction)
    channels = control(interaction).channels
    settings = await channels.get(gid, channel.id)
    mode = await channels.get_mode(gid)
    if is_allowed(settings, mode) is None:
        return _("Now: members can use /imagine in {channel}.", channel=channel.mention)
    if settings.enabled is False:
        return _("Now: /imagine is off in {channel}.", channel=channel.mention)
    return _(
        "Now: /imagine is off in {channel} (allowlist mode; enable it there).",
        channel=channel.mention,
    )


async def _set_enabled(
    interaction: Interaction, channel: TargetChannel | None, enabled: bool
) -> None:
    await defer(interaction)
    target = channel or here(interaction)
    store = control(interaction).channels
    write = store.enable if enabled else store.disable
    change = await write(guild_id(interaction), target.id, **writer(interaction))
    old, new = change.old["enabled"], change.new["enabled"]
    fields = {
        "channel": target.mention,
        "old": ui.enabled_text(old),
        "new": ui.enabled_text(new),
        "now": await _now_line(interaction, target),
    }
    if old == new:
        text = _("/imagine in {channel}: {old} → **{new}** (it already was)\n{now}", **fields)
    else:
        text = _("/imagine in {channel}: {old} → **{new}**\n{now}", **fields)
    await reply(interaction, text)


class ChannelGroup(
    AdminGroup,
    name="channel",
    description="Where /imagine works and each channel's defaults and caps",
):
    """Turn /imagine on or off per channel, and set each channel's defaults and caps."""

    @app_commands.command(name="enable", description="Turn /imagine on in a channel")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def channel_enable(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Turn /imagine on in a channel."""
        await _set_enabled(interaction, channel, True)

    @app_commands.command(name="disable", description="Turn /imagine off in a channel")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def channel_disable(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Turn /imagine off in a channel."""
        await _set_enabled(interaction, channel, False)

    @app_commands.command(
        name="set", description="Set a channel's defaults, caps and safety filter"
    )
    @app_commands.describe(
        channel=CHANNEL_HELP,
        size="Default shape when a member gives none",
        resolution="Default resolution when a member gives none",
        images="Default number of images when a member gives none",
        max_resolution="Highest resolution members may ask for here",
        max_images="Most images members may ask for in one request here",
        safety="kie's content filter; off only in age-restricted channels (posts then spoilered)",
        clear="Forget one setting (or all) so the default applies again; done before the rest",
    )
    @app_commands.choices(
        size=SIZE_CHOICES,
        resolution=RESOLUTION_CHOICES,
        max_resolution=RESOLUTION_CHOICES,
        clear=CLEAR_CHOICES,
    )
    async def channel_set(
        self,
        interaction: Interaction,
        channel: TargetChannel | None = None,
        size: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        images: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        max_resolution: app_commands.Choice[str] | None = None,
        max_images: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        safety: bool | None = None,
        clear: app_commands.Choice[str] | None = None,
    ) -> None:
        """Set a channel's defaults, caps and safety filter."""
        given: dict[str, Any] = {
            "image_size": size.value if size else None,
            "resolution": resolution.value if resolution else None,
            "images": images,
            "max_resolution": max_resolution.value if max_resolution else None,
            "max_images": max_images,
            "safety": safety,
        }
        values = settings_to_write(given, clear.value if clear else None)
        await defer(interaction)
        target = channel or here(interaction)
        change = await control(interaction).channels.set(
            guild_id(interaction),
            target.id,
            channel_is_nsfw=is_nsfw(target),
            **values,
            **writer(interaction),
        )
        lines = ui.channel_change_lines(change.old, change.new)
        if not lines:
            await reply(
                interaction, _("{channel} already had these settings.", channel=target.mention)
            )
            return
        lang = lang_for(interaction)
        body = "\n".join(f"• {lang(line)}" for line in lines)
        await reply(
            interaction, lang(_("{channel} updated:", channel=target.mention)) + "\n" + body
        )

    @app_commands.command(name="show", description="Show what applies in a channel")
    @app_commands.describe(channel=CHANNEL_HELP)
    async def channel_show(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Show what applies in a channel."""
        await defer(interaction)
        target = channel or here(interaction)
        gid = guild_id(interaction)
        ctl = control(interaction)
        settings = await ctl.channels.get(gid, target.id)
        mode = await ctl.channels.get_mode(gid)
        quota = next(
            (
                q
                for q in await ctl.quotas.show(gid)
                if q.kind == "channel" and q.target_id == target.id
            ),
            None,
        )
        embed = ui.channel_embed(
            target,
            settings,
            mode,
            channel_is_nsfw=is_nsfw(target),
            quota=quota,
            lang=lang_for(interaction),
        )
        await reply(interaction, embed=embed)
