"""The Discord side of delivery: progress, results, failures, through the interaction or
the channel.

Everything is rebuilt from the job row (a partial webhook from the stored interaction
token), so it works the same after a restart. The interaction token lives 15 minutes; after
that, results go out as channel messages that mention the requester.

Words follow the route (bot/i18n): through the interaction, the member's Discord language
(the job keeps their locale); in the channel, the server's preferred language.
"""

from __future__ import annotations

import io
import logging
import time
from datetime import UTC, datetime
from typing import Any

import discord

from bot.i18n import Lang, Text, _, language
from bot.jobs.models import INTERACTION_LIFETIME, Job, JobState
from bot.jobs.outcomes import Failed, Failure
from bot.jobs.ports import PostRefused, Progress, ResultPart
from cogs.imagine._embeds import cancelled_embed, failure_embed, progress_embed, result_embed
from cogs.imagine._progress import EditPacer
from cogs.imagine._views import progress_view, result_view

__all__ = ["DiscordDelivery"]

log = logging.getLogger(__name__)

# Don't start a webhook call in the token's last seconds: an upload can take a while.
TOKEN_MARGIN = 30.0
DEFAULT_GUILD_UPLOAD_LIMIT = 10 * 1024 * 1024
# Discord's answers meaning "this interaction token no longer works".
TOKEN_GONE_CODES = {50027, 10015, 10062}


class DiscordDelivery:
    """Implements bot.jobs.ports.Delivery for Discord."""

    def __init__(
        self, bot: discord.Client, *, interaction_lifetime: float = INTERACTION_LIFETIME
    ) -> None:
        self.bot = bot
        self.interaction_lifetime = interaction_lifetime
        self.pacer = EditPacer()

    def _token_alive(self, job: Job, *, margin: float = TOKEN_MARGIN) -> bool:
        ref = job.interaction
        return ref is not None and time.time() < ref.expires_at(self.interaction_lifetime) - margin

    def _webhook(self, job: Job) -> discord.Webhook:
        ref = job.interaction
        assert ref is not None
        return discord.Webhook.partial(ref.application_id, ref.token, client=self.bot)

    @staticmethod
    def _member_lang(job: Job) -> Lang:
        """Return the requester's language: for whatever goes through their interaction."""
        return language(job.interaction.locale if job.interaction else None)

    def _server_lang(self, job: Job) -> Lang:
        """Return the server's language: for channel messages (token gone, or none)."""
        locale = job.interaction.guild_locale if job.interaction else None
        if locale is None:  # a job from before V6: the server as Discord describes it now
            guild = self.bot.get_guild(job.guild_id)
            return language(guild.preferred_locale if guild is not None else None)
        return language(locale)

    def _allowed(self, job: Job) -> discord.AllowedMentions:
        # Echoed prompts must never ping anyone: only the requester may be mentioned.
        return discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(job.user_id)], replied_user=False
        )

    async def upload_limit(self, job: Job) -> int:
        """Return the per-message upload limit for the route the result will take."""
        if self._token_alive(job, margin=TOKEN_MARGIN + 60):
            assert job.interaction is not None
            return job.interaction.attachment_size_limit
        guild = self.bot.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_GUILD_UPLOAD_LIMIT

    async def _edit_original(self, job: Job, **fields: Any) -> None:
        if not self._token_alive(job, margin=0):
            return
        try:
            # "@original" addresses the interaction's first response, like
            # Interaction.edit_original_response, which needs a live Interaction object.
            await self._webhook(job).edit_message("@original", **fields)  # type: ignore[call-overload]
        except discord.HTTPException as exc:
            if exc.code not in TOKEN_GONE_CODES:
                raise

    async def progress(self, job: Job, progress: Progress) -> None:
        """Queue an edit of the requester's progress message (paced, newest wins)."""
        lang = self._member_lang(job)
        embed = progress_embed(job, progress, lang=lang)

        async def edit() -> None:
            await self._edit_original(job, embed=embed, view=progress_view(job.id, lang))

        # A new place in line waits behind edits that show a change of state.
        background = job.state is JobState.QUEUED and progress.queue_position is not None
        self.pacer.submit(job.id, edit, background=background)

    async def post_result(self, job: Job, part: ResultPart) -> str:
        """Post one part of the result, by the interaction while it lives, else the channel."""
        self.pacer.forget(job.id)
        took = None
        if job.kie_finished_at and job.submitted_at:
            took = job.kie_finished_at - job.submitted_at
        files = [discord.File(io.BytesIO(a.data), filename=a.filename) for a in part.attachments]

        def fields(lang: Lang) -> dict[str, Any]:
            return {
                "content": f"<@{job.user_id}>",
                "embed": result_embed(job, part, took=took, lang=lang),
                "files": files,
                "view": result_view(job.id, last_part=part.index == part.count - 1, lang=lang),
                "allowed_mentions": self._allowed(job),
            }

        if part.index == 0:
            await self._finish_progress(job, _("Done — your images are below."))
        if self._token_alive(job):
            try:
                await self._webhook(job).send(wait=True, **fields(self._member_lang(job)))
                return "interaction"
            except discord.HTTPException as exc:
                if exc.code not in TOKEN_GONE_CODES:
                    self._explain_refusal(exc)
                    raise
                for f in files:
                    f.reset()
        channel = await self._channel(job)
        try:
            # With a nonce Discord creates the message once: sent again after a crash, the
            # same part comes back as the message already posted.
            await channel.send(nonce=f"{job.id[:22]}{part.index}", **fields(self._server_lang(job)))
        except discord.Forbidden as exc:
            raise PostRefused(Failure.CANNOT_POST) from exc
        except discord.HTTPException as exc:
            self._explain_refusal(exc)
            raise
        return "channel"

    async def posted_parts(self, job: Job) -> int | None:
        """Count the job's result messages in the channel's recent history.

        Parts go out in order, so the count is how many were posted. A followup sent through
        the interaction has no nonce, so this is how a resumed delivery finds one that
        landed just before a crash.
        """
        me = self.bot.user
        since = (job.kie_finished_at or job.created_at) - 60
        after = discord.Object(discord.utils.time_snowflake(datetime.fromtimestamp(since, UTC)))
        marker = f"imagine:delete:{job.id}"
        try:
            channel = await self._channel(job)
            count = 0
            # Newest first, back to `since`: in a busy channel the job's latest parts are
            # the newest messages, which an oldest-first page of 100 would never reach.
            async for message in channel.history(limit=1000, after=after, oldest_first=False):
                mine = me is not None and message.author.id == me.id
                buttons = (
                    getattr(c, "custom_id", None)
                    for row in message.components
                    for c in getattr(row, "children", ())
                )
                if mine and marker in buttons:
                    count += 1
        except discord.HTTPException as exc:
            log.warning("job %s: can't read the channel to check posted parts: %s", job.id, exc)
            return None
        return count

    @staticmethod
    def _explain_refusal(exc: discord.HTTPException) -> None:
        if exc.status == 413 or exc.code == 40005:
            raise PostRefused(Failure.UPLOAD_REFUSED) from exc

    async def _channel(self, job: Job) -> discord.abc.Messageable:
        """Return the job's channel: cached, or by id alone (no request made).

        A process caches only the guilds of its own gateway shards, yet delivers any job; the
        channel's id is all a post or a history read needs, so another shard's channel costs
        no extra request (a deleted one answers the post itself with Unknown Channel).
        """
        channel = self.bot.get_channel(job.channel_id)
        if channel is None:
            return self.bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        assert isinstance(channel, discord.abc.Messageable)
        return channel

    async def _finish_progress(self, job: Job, text: Text) -> None:
        embed = discord.Embed(
            description=self._member_lang(job)(text), colour=discord.Colour.green()
        )
        try:
            await self._edit_original(job, embed=embed, view=None)
        except discord.HTTPException as exc:
            log.debug("job %s: progress message not closed: %s", job.id, exc)

    async def failed(self, job: Job, failed: Failed) -> None:
        """Tell the requester; after the token expired, in the channel with a mention."""
        self.pacer.forget(job.id)
        if self._token_alive(job, margin=0):
            embed = failure_embed(job, failed.message, lang=self._member_lang(job))
            await self._edit_original(job, embed=embed, view=None)
            return
        embed = failure_embed(job, failed.message, lang=self._server_lang(job))
        channel = await self._channel(job)
        await channel.send(
            content=f"<@{job.user_id}>", embed=embed, allowed_mentions=self._allowed(job)
        )

    async def cancelled(self, job: Job) -> None:
        """Replace the progress message with a cancellation note."""
        self.pacer.forget(job.id)
        lang = self._member_lang(job)
        await self._edit_original(job, embed=cancelled_embed(job, lang=lang), view=None)

    async def close(self) -> None:
        """Stop the progress edits still waiting (the process is stopping)."""
        await self.pacer.close()
