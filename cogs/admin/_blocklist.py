"""/imagine-admin blocklist: words and regular expressions refused in prompts."""

from __future__ import annotations

import io

import discord
from discord import app_commands

from bot.i18n import _
from cogs._common import lang_for
from cogs.admin import _embeds as ui
from cogs.admin._base import AdminGroup, Interaction, control, defer, guild_id, reply, writer

__all__ = ["BlocklistGroup"]

Entry = app_commands.Range[str, 1, 300]


async def _change(interaction: Interaction, entry: str, *, add: bool) -> None:
    """Add or remove one entry and confirm it with the list's new size."""
    await defer(interaction)
    gid = guild_id(interaction)
    blocklist = control(interaction).blocklist
    write = blocklist.add if add else blocklist.remove
    change = await write(gid, entry, **writer(interaction))
    count = ui.entry_count(len(await blocklist.entries(gid)))
    if add:
        text = _("Blocklist: added {entry} ({count} now).", entry=ui.code(change.new), count=count)
    else:
        text = _(
            "Blocklist: removed {entry} ({count} left).", entry=ui.code(change.old), count=count
        )
    await reply(interaction, text)


class BlocklistGroup(
    AdminGroup,
    name="blocklist",
    description="Words and regular expressions refused in prompts",
):
    """Add, remove and list the words and expressions refused in prompts."""

    @app_commands.command(name="add", description="Refuse prompts containing a word or regex")
    @app_commands.describe(
        entry="A word or phrase (whole words, any case), or re: then a regular expression",
    )
    async def blocklist_add(self, interaction: Interaction, entry: Entry) -> None:
        """Add a word, phrase or `re:` regular expression to the blocklist."""
        await _change(interaction, entry, add=True)

    @app_commands.command(name="remove", description="Stop refusing a word or regex")
    @app_commands.describe(entry="The entry as the list shows it (re: entries with their prefix)")
    async def blocklist_remove(self, interaction: Interaction, entry: Entry) -> None:
        """Remove an entry from the blocklist."""
        await _change(interaction, entry, add=False)

    @app_commands.command(name="list", description="Show the blocklist")
    async def blocklist_list(self, interaction: Interaction) -> None:
        """Show the blocklist (attached in full when it is too long for one message)."""
        await defer(interaction)
        entries = await control(interaction).blocklist.entries(guild_id(interaction))
        embed, cut = ui.blocklist_embed(entries, lang=lang_for(interaction))
        file = None
        if cut:
            data = ui.blocklist_text(entries).encode()
            file = discord.File(io.BytesIO(data), filename="blocklist.txt")
        await reply(interaction, embed=embed, file=file)
