"""/imagine-admin: Discord glue over bot.control for the server's admins.

Every subcommand needs Manage Server. `default_permissions` only hides the command in
Discord's client (and admins can re-grant it to anyone in the integration settings), so
`interaction_check` enforces it on every call. All writes go through bot.control, which
writes the audit row in the same transaction; replies are ephemeral and show old → new.

SPEC's names, mapped onto Discord's two levels of nesting:

- `mode open|allowlist` is one subcommand `mode` with a required `mode` choice (one command
  instead of two, and the choice shows what each mode means);
- `quota reset member` is the subcommand `quota reset` with a required `member` option, since
  Discord allows no group inside a group; likewise `quota clear` takes a `scope` choice and
  the role, member or channel that scope needs;
- `channel set` also takes `clear` (one setting, or all) so a value can be forgotten and the
  default apply again: an omitted option means "keep", so it can't express "unset";
- `usage` defaults to the current month: spending is reviewed like a bill, and the day and
  week are one choice away.
"""

from __future__ import annotations

import io
import logging
import time
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.control import KEEP, Control, is_allowed
from bot.control.periods import Period, parse_period
from bot.control.usage import usage
from bot.errors import UserFacingError
from bot.kie import MAX_IMAGES
from cogs._channels import rules_channel
from cogs.admin import _embeds as ui
from cogs.imagine._cog import RESOLUTION_CHOICES, SIZE_CHOICES
from cogs.imagine._embeds import truncate

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["ImagineAdmin", "NotAnAdmin"]

log = logging.getLogger(__name__)

Interaction = discord.Interaction["ImagineBot"]
# Where /imagine can be used: text, announcement, voice and stage chats, and forum posts
# (threads follow their parent channel's settings, so a thread is never a target here).
TargetChannel = (
    discord.TextChannel | discord.VoiceChannel | discord.StageChannel | discord.ForumChannel
)

NO_PINGS = discord.AllowedMentions.none()
MAX_LIMIT = 1_000_000  # bot.control.quotas accepts 0…1 000 000 images per period

# Every quota subcommand repeats these, and Discord caps a command's names, descriptions and
# choices at 4000 characters in all: keep them short (the option description says "UTC").
PERIOD_CHOICES = [
    app_commands.Choice(name="day", value="day"),
    app_commands.Choice(name="week (from Monday)", value="week"),
    app_commands.Choice(name="month", value="month"),
]
MODE_CHOICES = [
    app_commands.Choice(name="open: every channel unless disabled", value="open"),
    app_commands.Choice(name="allowlist: only enabled channels", value="allowlist"),
]
SCOPE_CHOICES = [
    app_commands.Choice(name="default (every member)", value="default"),
    app_commands.Choice(name="role", value="role"),
    app_commands.Choice(name="member", value="member"),
    app_commands.Choice(name="channel (its total)", value="channel"),
    app_commands.Choice(name="server (its total)", value="server"),
]
# Settings `channel set` can forget (so the server default applies again).
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


class NotAnAdmin(app_commands.CheckFailure, UserFacingError):
    """Raised by the permission check; the tree shows its message privately."""

    def __init__(self) -> None:
        UserFacingError.__init__(
            self, "Only members with the **Manage Server** permission can use /imagine-admin."
        )


def _channel_is_nsfw(channel: Any) -> bool:
    is_nsfw = getattr(channel, "is_nsfw", None)
    return bool(is_nsfw and is_nsfw())


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class ImagineAdmin(
    commands.GroupCog,
    group_name="imagine-admin",
    group_description="Control /imagine: channels, quotas, blocklist, usage (Manage Server)",
):
    """Admin controls for /imagine."""

    channel_group = app_commands.Group(
        name="channel", description="Where /imagine works and each channel's defaults and caps"
    )
    quota_group = app_commands.Group(
        name="quota", description="How many images members, roles, channels and the server get"
    )
    blocklist_group = app_commands.Group(
        name="blocklist", description="Words and regular expressions refused in prompts"
    )

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: Interaction) -> bool:  # type: ignore[override]
        """Refuse anyone without Manage Server, whatever the client let them run."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        # interaction.permissions is what Discord resolved for the member in this channel
        # (administrators and the owner included).
        if not interaction.permissions.manage_guild:
            log.info(
                "refused /%s for %s: no Manage Server",
                interaction.command.qualified_name if interaction.command else "imagine-admin",
                interaction.user.id,
            )
            raise NotAnAdmin()
        return True

    # -- helpers ----------------------------------------------------------------------------

    @property
    def control(self) -> Control:
        """Return the bot's control layer."""
        return self.bot.control

    @staticmethod
    async def _defer(interaction: Interaction) -> None:
        # Writes wait for the database's write lock, which a rush of /imagine can hold for a
        # moment: acknowledge first, so Discord's 3 s window never runs out.
        await interaction.response.defer(ephemeral=True, thinking=True)

    @staticmethod
    async def _reply(
        interaction: Interaction,
        content: str | None = None,
        *,
        embed: discord.Embed | None = None,
        file: discord.File | None = None,
    ) -> None:
        await interaction.edit_original_response(
            content=content and truncate(content, 2000),
            embed=embed,
            attachments=[file] if file else [],
            allowed_mentions=NO_PINGS,
        )

    @staticmethod
    def _writer(interaction: Interaction) -> dict[str, Any]:
        """Return who is changing what, and when, for the audit row."""
        return {"actor_id": interaction.user.id, "now": time.time()}

    @staticmethod
    def _guild_id(interaction: Interaction) -> int:
        assert interaction.guild_id is not None  # interaction_check refused DMs
        return interaction.guild_id

    @staticmethod
    def _here(interaction: Interaction) -> discord.abc.GuildChannel:
        """Return the channel this was used in (a thread's parent, whose settings it follows)."""
        channel = rules_channel(interaction)
        if not isinstance(channel, discord.abc.GuildChannel):
            raise UserFacingError("Pick a channel with the `channel` option.")
        return channel

    async def _now_line(self, guild_id: int, channel: discord.abc.GuildChannel) -> str:
        settings = await self.control.channels.get(guild_id, channel.id)
        mode = await self.control.channels.get_mode(guild_id)
        if is_allowed(settings, mode) is None:
            return f"Now: members can use /imagine in {channel.mention}."
        if settings.enabled is False:
            return f"Now: /imagine is off in {channel.mention}."
        return f"Now: /imagine is off in {channel.mention} (allowlist mode; enable it there)."

    async def _set_enabled(
        self, interaction: Interaction, channel: TargetChannel | None, enabled: bool
    ) -> None:
        await self._defer(interaction)
        target = channel or self._here(interaction)
        guild_id = self._guild_id(interaction)
        store = self.control.channels
        write = store.enable if enabled else store.disable
        change = await write(guild_id, target.id, **self._writer(interaction))
        old, new = change.old["enabled"], change.new["enabled"]
        head = f"/imagine in {target.mention}: {ui.enabled_text(old)} → **{ui.enabled_text(new)}**"
        if old == new:
            head += " (it already was)"
        await self._reply(interaction, f"{head}\n{await self._now_line(guild_id, target)}")

    # -- channel ----------------------------------------------------------------------------

    @channel_group.command(name="enable", description="Turn /imagine on in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channel_enable(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Turn /imagine on in a channel."""
        await self._set_enabled(interaction, channel, True)

    @channel_group.command(name="disable", description="Turn /imagine off in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channel_disable(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Turn /imagine off in a channel."""
        await self._set_enabled(interaction, channel, False)

    @channel_group.command(
        name="set", description="Set a channel's defaults, caps and safety filter"
    )
    @app_commands.describe(
        channel="The channel (default: this one)",
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
        values: dict[str, Any] = {name: KEEP for name in given}
        if clear is not None:
            cleared = (
                list(CLEARABLE)
                if clear.value == "all"
                else [name for name, option in CLEARABLE.items() if option == clear.value]
            )
            values.update(dict.fromkeys(cleared, None))
            if clear.value != "all":
                [name] = cleared
                if given[name] is not None:
                    raise UserFacingError(
                        f"You both set and cleared `{clear.value}`; do one or the other."
                    )
        values.update({name: value for name, value in given.items() if value is not None})
        if all(value is KEEP for value in values.values()):
            raise UserFacingError(
                "Give at least one setting to change (size, resolution, images, "
                "max_resolution, max_images, safety) or one to `clear`."
            )
        await self._defer(interaction)
        target = channel or self._here(interaction)
        change = await self.control.channels.set(
            self._guild_id(interaction),
            target.id,
            channel_is_nsfw=_channel_is_nsfw(target),
            **values,
            **self._writer(interaction),
        )
        lines = ui.channel_change_lines(change.old, change.new)
        if not lines:
            await self._reply(interaction, f"{target.mention} already had these settings.")
            return
        body = "\n".join(f"• {line}" for line in lines)
        await self._reply(interaction, f"{target.mention} updated:\n{body}")

    @channel_group.command(name="show", description="Show what applies in a channel")
    @app_commands.describe(channel="The channel (default: this one)")
    async def channel_show(
        self, interaction: Interaction, channel: TargetChannel | None = None
    ) -> None:
        """Show what applies in a channel."""
        await self._defer(interaction)
        target = channel or self._here(interaction)
        guild_id = self._guild_id(interaction)
        settings = await self.control.channels.get(guild_id, target.id)
        mode = await self.control.channels.get_mode(guild_id)
        quota = next(
            (
                q
                for q in await self.control.quotas.show(guild_id)
                if q.kind == "channel" and q.target_id == target.id
            ),
            None,
        )
        embed = ui.channel_embed(
            target, settings, mode, channel_is_nsfw=_channel_is_nsfw(target), quota=quota
        )
        await self._reply(interaction, embed=embed)

    # -- mode -------------------------------------------------------------------------------

    @app_commands.command(name="mode", description="Open (every channel) or allowlist mode")
    @app_commands.describe(mode="open: every channel unless disabled; allowlist: only enabled")
    @app_commands.choices(mode=MODE_CHOICES)
    async def mode(self, interaction: Interaction, mode: app_commands.Choice[str]) -> None:
        """Choose where /imagine works by default."""
        await self._defer(interaction)
        change = await self.control.channels.set_mode(
            self._guild_id(interaction), mode.value, **self._writer(interaction)
        )
        await self._reply(interaction, ui.mode_text(change.old, change.new))

    # -- quota ------------------------------------------------------------------------------

    async def _set_limit(
        self,
        interaction: Interaction,
        kind: str,
        target_id: int | None,
        limit: int,
        period: app_commands.Choice[str],
    ) -> None:
        await self._defer(interaction)
        change = await self.control.quotas.set_limit(
            self._guild_id(interaction),
            kind,
            target_id,
            limit,
            period.value,
            **self._writer(interaction),
        )
        line = (
            f"{ui.quota_owner(kind, target_id)}: {ui.limit_text(change.old)} → "
            f"**{ui.limit_text(change.new)}**"
        )
        if change.old == change.new:
            line += " (unchanged)"
        await self._reply(interaction, line)

    @quota_group.command(name="default", description="Limit for every member without their own")
    @app_commands.describe(
        limit="Images per period (0: not allowed)", period="Calendar day, week or month, in UTC"
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_default(
        self,
        interaction: Interaction,
        limit: app_commands.Range[int, 0, MAX_LIMIT],
        period: app_commands.Choice[str],
    ) -> None:
        """Set the limit for every member without a role or member limit."""
        await self._set_limit(interaction, "default", None, limit, period)

    @quota_group.command(name="role", description="Limit for members with a role")
    @app_commands.describe(
        role="The role (a member with several gets the most generous)",
        limit="Images per period (0: not allowed)",
        period="Calendar day, week or month, in UTC",
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_role(
        self,
        interaction: Interaction,
        role: discord.Role,
        limit: app_commands.Range[int, 0, MAX_LIMIT],
        period: app_commands.Choice[str],
    ) -> None:
        """Set the limit for members with a role."""
        if role.is_default():
            raise UserFacingError(
                "@everyone is every member: use `/imagine-admin quota default` instead."
            )
        await self._set_limit(interaction, "role", role.id, limit, period)

    @quota_group.command(name="member", description="Limit for one member (overrides roles)")
    @app_commands.describe(
        member="The member",
        limit="Images per period (0: not allowed)",
        period="Calendar day, week or month, in UTC",
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_member(
        self,
        interaction: Interaction,
        member: discord.Member,
        limit: app_commands.Range[int, 0, MAX_LIMIT],
        period: app_commands.Choice[str],
    ) -> None:
        """Set one member's own limit, which overrides their roles' and the default."""
        await self._set_limit(interaction, "member", member.id, limit, period)

    @quota_group.command(name="channel", description="Total for a channel, shared by everyone")
    @app_commands.describe(
        channel="The channel",
        limit="Images per period (0: not allowed)",
        period="Calendar day, week or month, in UTC",
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_channel(
        self,
        interaction: Interaction,
        channel: TargetChannel,
        limit: app_commands.Range[int, 0, MAX_LIMIT],
        period: app_commands.Choice[str],
    ) -> None:
        """Set a channel's total, shared by everyone using /imagine there."""
        await self._set_limit(interaction, "channel", channel.id, limit, period)

    @quota_group.command(name="server", description="Total for the whole server")
    @app_commands.describe(
        limit="Images per period (0: not allowed)", period="Calendar day, week or month, in UTC"
    )
    @app_commands.choices(period=PERIOD_CHOICES)
    async def quota_server(
        self,
        interaction: Interaction,
        limit: app_commands.Range[int, 0, MAX_LIMIT],
        period: app_commands.Choice[str],
    ) -> None:
        """Set the server's total."""
        await self._set_limit(interaction, "server", None, limit, period)

    @quota_group.command(name="clear", description="Remove a limit")
    @app_commands.describe(
        scope="Which limit to remove",
        role="The role, for scope role",
        member="The member, for scope member",
        channel="The channel, for scope channel",
    )
    @app_commands.choices(scope=SCOPE_CHOICES)
    async def quota_clear(
        self,
        interaction: Interaction,
        scope: app_commands.Choice[str],
        role: discord.Role | None = None,
        # A User too: a member who left may still have a limit to clear.
        member: discord.Member | discord.User | None = None,
        channel: TargetChannel | None = None,
    ) -> None:
        """Remove a limit: that scope falls back or becomes unlimited."""
        kind = scope.value
        targets = {"role": role, "member": member, "channel": channel}
        given = [name for name, value in targets.items() if value is not None]
        if kind in targets:
            if targets[kind] is None:
                raise UserFacingError(f"To clear a {kind} limit, also give the `{kind}` option.")
            if given != [kind]:
                raise UserFacingError(f"A {kind} limit takes only the `{kind}` option.")
        elif given:
            raise UserFacingError(f"The {kind} limit takes no {', '.join(given)} option.")
        target = targets.get(kind)
        target_id = target.id if target is not None else None
        await self._defer(interaction)
        change = await self.control.quotas.clear_limit(
            self._guild_id(interaction), kind, target_id, **self._writer(interaction)
        )
        owner = ui.quota_owner(kind, target_id)
        if change.old is None:
            await self._reply(interaction, f"{owner} was not set; nothing changed.")
            return
        await self._reply(
            interaction,
            f"{owner}: {ui.limit_text(change.old)} → **not set** ({ui.CLEAR_FALLBACK[kind]}).",
        )

    @quota_group.command(name="show", description="List every limit set in this server")
    async def quota_show(self, interaction: Interaction) -> None:
        """List every limit set in this server."""
        await self._defer(interaction)
        limits = await self.control.quotas.show(self._guild_id(interaction))
        await self._reply(interaction, embed=ui.quotas_embed(limits))

    @quota_group.command(name="reset", description="Give a member back this period's images")
    @app_commands.describe(member="The member whose counted images go back to 0")
    async def quota_reset(
        self, interaction: Interaction, member: discord.Member | discord.User
    ) -> None:
        """Zero a member's counted images for the current day, week and month."""
        await self._defer(interaction)
        change = await self.control.quotas.reset_member(
            self._guild_id(interaction), member.id, **self._writer(interaction)
        )
        await self._reply(interaction, ui.reset_text(member.id, change.old))

    # -- blocklist --------------------------------------------------------------------------

    @blocklist_group.command(name="add", description="Refuse prompts containing a word or regex")
    @app_commands.describe(
        entry="A word or phrase (whole words, any case), or re: then a regular expression",
    )
    async def blocklist_add(
        self, interaction: Interaction, entry: app_commands.Range[str, 1, 300]
    ) -> None:
        """Add a word, phrase or `re:` regular expression to the blocklist."""
        await self._defer(interaction)
        guild_id = self._guild_id(interaction)
        change = await self.control.blocklist.add(guild_id, entry, **self._writer(interaction))
        count = len(await self.control.blocklist.entries(guild_id))
        await self._reply(
            interaction,
            f"Blocklist: added {ui.code(change.new)} ({ui.plural(count, 'entry', 'entries')} now).",
        )

    @blocklist_group.command(name="remove", description="Stop refusing a word or regex")
    @app_commands.describe(entry="The entry as the list shows it (re: entries with their prefix)")
    async def blocklist_remove(
        self, interaction: Interaction, entry: app_commands.Range[str, 1, 300]
    ) -> None:
        """Remove an entry from the blocklist."""
        await self._defer(interaction)
        guild_id = self._guild_id(interaction)
        change = await self.control.blocklist.remove(guild_id, entry, **self._writer(interaction))
        count = len(await self.control.blocklist.entries(guild_id))
        await self._reply(
            interaction,
            f"Blocklist: removed {ui.code(change.old)} "
            f"({ui.plural(count, 'entry', 'entries')} left).",
        )

    @blocklist_group.command(name="list", description="Show the blocklist")
    async def blocklist_list(self, interaction: Interaction) -> None:
        """Show the blocklist (attached in full when it is too long for one message)."""
        await self._defer(interaction)
        entries = await self.control.blocklist.entries(self._guild_id(interaction))
        embed, cut = ui.blocklist_embed(entries)
        file = None
        if cut:
            data = ui.blocklist_text(entries).encode()
            file = discord.File(io.BytesIO(data), filename="blocklist.txt")
        await self._reply(interaction, embed=embed, file=file)

    # -- usage ------------------------------------------------------------------------------

    @app_commands.command(name="usage", description="Images, credits and top members")
    @app_commands.describe(period="The current day, week or month in UTC (default: month)")
    @app_commands.choices(period=PERIOD_CHOICES)
    async def usage(
        self, interaction: Interaction, period: app_commands.Choice[str] | None = None
    ) -> None:
        """Show this period's images, credits and top members."""
        await self._defer(interaction)
        chosen: Period = parse_period(period.value) if period else "month"
        report = await usage(self.control.db, self._guild_id(interaction), chosen, time.time())
        await self._reply(interaction, embed=ui.usage_embed(report))
