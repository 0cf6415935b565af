"""/imagine-admin quota: how many images members, roles, channels and the server get."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.control import MAX_LIMIT
from bot.errors import UserFacingError
from bot.i18n import _
from cogs._common import lang_for
from cogs.admin import _embeds as ui
from cogs.admin._base import (
    PERIOD_CHOICES,
    AdminGroup,
    Interaction,
    TargetChannel,
    control,
    defer,
    guild_id,
    reply,
    writer,
)

__all__ = ["QuotaGroup", "check_clear_target"]

F = TypeVar("F", bound=Callable[..., Any])

SCOPE_CHOICES = [
    app_commands.Choice(name="default (every member)", value="default"),
    app_commands.Choice(name="role", value="role"),
    app_commands.Choice(name="member", value="member"),
    app_commands.Choice(name="channel (its total)", value="channel"),
    app_commands.Choice(name="server (its total)", value="server"),
]

Limit = app_commands.Range[int, 0, MAX_LIMIT]
Period = app_commands.Choice[str]


def limit_options(**target_help: str) -> Callable[[F], F]:
    """Describe a limit-setting subcommand's options: its target (if any), limit and period."""

    def decorate(func: F) -> F:
        func = app_commands.describe(
            **target_help,
            limit="Images per period (0: not allowed)",
            period="Calendar day, week or month, in UTC",
        )(func)
        return app_commands.choices(period=PERIOD_CHOICES)(func)

    return decorate


# One sentence per kind of limit: the kind is a word of the sentence, not a code.
_NEEDS_TARGET = {
    "role": _("To clear a role limit, also give the `role` option."),
    "member": _("To clear a member limit, also give the `member` option."),
    "channel": _("To clear a channel limit, also give the `channel` option."),
}
_ONLY_TARGET = {
    "role": _("A role limit takes only the `role` option."),
    "member": _("A member limit takes only the `member` option."),
    "channel": _("A channel limit takes only the `channel` option."),
}
_NO_TARGET = {
    "default": _("The default limit takes no {options} option."),
    "server": _("The server limit takes no {options} option."),
}


def check_clear_target(kind: str, targets: dict[str, Any]) -> None:
    """Refuse a `quota clear` whose role/member/channel options don't fit its scope."""
    given = [name for name, value in targets.items() if value is not None]
    if kind in targets:
        if targets[kind] is None:
            raise UserFacingError(_NEEDS_TARGET[kind])
        if given != [kind]:
            raise UserFacingError(_ONLY_TARGET[kind])
    elif given:
        options = ", ".join(given)
        raise UserFacingError(_NO_TARGET[kind].with_params(options=options))


async def _set_limit(
    interaction: Interaction, kind: str, target_id: int | None, limit: int, period: Period
) -> None:
    await defer(interaction)
    change = await control(interaction).quotas.set_limit(
        guild_id(interaction), kind, target_id, limit, period.value, **writer(interaction)
    )
    fields = {
        "owner": ui.quota_owner(kind, target_id),
        "old": ui.limit_text(change.old),
        "new": ui.limit_text(change.new),
    }
    if change.old == change.new:
        await reply(interaction, _("{owner}: {old} → **{new}** (unchanged)", **fields))
    else:
        await reply(interaction, _("{owner}: {old} → **{new}**", **fields))


class QuotaGroup(
    AdminGroup,
    name="quota",
    description="How many images members, roles, channels and the server get",
):
    """Set, clear, list and reset image limits."""

    @app_commands.command(name="default", description="Limit for every member without their own")
    @limit_options()
    async def quota_default(self, interaction: Interaction, limit: Limit, period: Period) -> None:
        """Set the limit for every member without a role or member limit."""
        await _set_limit(interaction, "default", None, limit, period)

    @app_commands.command(name="role", description="Limit for members with a role")
    @limit_options(role="The role (a member with several gets the most generous)")
    async def quota_role(
        self, interaction: Interaction, role: discord.Role, limit: Limit, period: Period
    ) -> None:
        """Set the limit for members with a role."""
        if role.is_default():
            raise UserFacingError(
                _("@everyone is every member: use `/imagine-admin quota default` instead.")
            )
        await _set_limit(interaction, "role", role.id, limit, period)

    @app_commands.command(name="member", description="Limit for one member (overrides roles)")
    @limit_options(member="The member")
    async def quota_member(
        self, interaction: Interaction, member: discord.Member, limit: Limit, period: Period
    ) -> None:
        """Set one member's own limit, which overrides their roles' and the default."""
        await _set_limit(interaction, "member", member.id, limit, period)

    @app_commands.command(name="channel", description="Total for a channel, shared by everyone")
    @limit_options(channel="The channel")
    async def quota_channel(
        self, interaction: Interaction, channel: TargetChannel, limit: Limit, period: Period
    ) -> None:
        """Set a channel's total, shared by everyone using /imagine there."""
        await _set_limit(interaction, "channel", channel.id, limit, period)

    @app_commands.command(name="server", description="Total for the whole server")
    @limit_options()
    async def quota_server(self, interaction: Interaction, limit: Limit, period: Period) -> None:
        """Set the server's total."""
        await _set_limit(interaction, "server", None, limit, period)

    @app_commands.command(name="clear", description="Remove a limit")
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
        check_clear_target(kind, targets)
        target = targets.get(kind)
        target_id = target.id if target is not None else None
        await defer(interaction)
        change = await control(interaction).quotas.clear_limit(
            guild_id(interaction), kind, target_id, **writer(interaction)
        )
        owner = ui.quota_owner(kind, target_id)
        if change.old is None:
            await reply(interaction, _("{owner} was not set; nothing changed.", owner=owner))
            return
        await reply(
            interaction,
            _(
                "{owner}: {old} → **not set** ({fallback}).",
                owner=owner,
                old=ui.limit_text(change.old),
                fallback=ui.CLEAR_FALLBACK[kind],
            ),
        )

    @app_commands.command(name="show", description="List every limit set in this server")
    async def quota_show(self, interaction: Interaction) -> None:
        """List every limit set in this server."""
        await defer(interaction)
        limits = await control(interaction).quotas.show(guild_id(interaction))
        await reply(interaction, embed=ui.quotas_embed(limits, lang=lang_for(interaction)))

    @app_commands.command(name="reset", description="Give a member back this period's images")
    @app_commands.describe(member="The member whose counted images go back to 0")
    async def quota_reset(
        self, interaction: Interaction, member: discord.Member | discord.User
    ) -> None:
        """Zero a member's counted images for the current day, week and month."""
        await defer(interaction)
        change = await control(interaction).quotas.reset_member(
            guild_id(interaction), member.id, **writer(interaction)
        )
        await reply(interaction, ui.reset_text(member.id, change.old))
