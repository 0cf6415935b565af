"""/imagine and its buttons: Discord glue over bot.jobs."""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.control import check_caps, is_allowed
from bot.errors import UserFacingError
from bot.jobs.delivery import Progress
from bot.jobs.engine import EngineConfig, JobEngine, JobRequest
from bot.jobs.models import InteractionRef, Job, JobOptions
from bot.kie import DEFAULT_USER_AGENT, MAX_IMAGES, MAX_PROMPT_CHARS, ImageSize, Resolution
from bot.store.jobs import JobStore
from cogs._channels import rules_channel_id, rules_channel_is_nsfw
from cogs.imagine._delivery import DiscordDelivery
from cogs.imagine._embeds import SIZE_NAMES, progress_embed
from cogs.imagine._views import DYNAMIC_ITEMS, RemixModal, progress_view

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["Imagine"]

log = logging.getLogger(__name__)

# kie's docs show seeds in the signed 32-bit range (e.g. -88165251, 50331296).
SEED_MIN, SEED_MAX = -(2**31), 2**31 - 1

SIZE_CHOICES = [app_commands.Choice(name=SIZE_NAMES[s], value=s.value) for s in ImageSize]
RESOLUTION_CHOICES = [app_commands.Choice(name=r.value, value=r.value) for r in Resolution]


def interaction_ref(interaction: discord.Interaction[Any]) -> InteractionRef:
    """Keep what is needed to answer this interaction after a restart."""
    return InteractionRef(
        application_id=interaction.application_id,
        interaction_id=interaction.id,
        token=interaction.token,
        created_at=interaction.created_at.timestamp(),
        attachment_size_limit=interaction.filesize_limit,
    )


class Imagine(commands.Cog):
    """Generate images with kie.ai's Seedream 4.0."""

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.delivery = DiscordDelivery(bot, interaction_lifetime=bot.interaction_lifetime)
        settings = bot.settings
        self.engine = JobEngine(
            store=JobStore(bot.db),
            kie=bot.kie,
            delivery=self.delivery,
            http_session=bot.http_session,
            quota=bot.control.quotas,
            config=EngineConfig(
                result_hosts=settings.kie_result_hosts,
                max_jobs_per_member=settings.max_jobs_per_member,
                callback_base_url=settings.public_base_url,
                hmac_key=(
                    settings.kie_webhook_hmac_key.reveal()
                    if settings.kie_webhook_hmac_key
                    else None
                ),
                user_agent=DEFAULT_USER_AGENT,
                **bot.engine_options,
            ),
        )

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.engine = self.engine
        await self.engine.start()

    async def cog_unload(self) -> None:
        await self.engine.shutdown(timeout=self.bot.shutdown_grace)
        await self.delivery.pacer.close()
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    @app_commands.command(name="imagine")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw (up to 5000 characters)",
        size="Shape of the image (default: this channel's, else Square HD)",
        resolution="Long edge of about 1K, 2K or 4K pixels (default: this channel's, else 1K)",
        images="How many images, 1 to 6 (default: this channel's, else 1)",
        seed="Reuse a seed shown under an earlier result to get a similar image",
    )
    @app_commands.choices(size=SIZE_CHOICES, resolution=RESOLUTION_CHOICES)
    async def imagine(
        self,
        interaction: discord.Interaction[ImagineBot],
        prompt: app_commands.Range[str, 1, MAX_PROMPT_CHARS],
        size: app_commands.Choice[str] | None = None,
        resolution: app_commands.Choice[str] | None = None,
        images: app_commands.Range[int, 1, MAX_IMAGES] | None = None,
        seed: app_commands.Range[int, SEED_MIN, SEED_MAX] | None = None,
    ) -> None:
        """Generate images from a text prompt with Seedream 4.0."""
        # Acknowledge first: Discord gives 3 s, and the checks below touch the database.
        # Ephemeral, so refusals stay private; the images themselves are posted publicly.
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.start_job(
            interaction,
            prompt=prompt,
            size=size.value if size else None,
            resolution=resolution.value if resolution else None,
            images=images,
            seed=seed,
        )

    async def start_job(
        self,
        interaction: discord.Interaction[Any],
        *,
        prompt: str,
        size: str | None,
        resolution: str | None,
        images: int | None,
        seed: int | None,
        parent: Job | None = None,
    ) -> Job:
        """Validate, check the channel's rules, submit, and show the progress message."""
        if not self.bot.accepting_commands:
            raise UserFacingError("The bot is restarting; please try again in a minute.")
        if interaction.guild is None or not isinstance(interaction.user, discord.Member):
            raise UserFacingError("This only works in a server.")
        prompt = prompt.strip()
        if not prompt:
            raise UserFacingError("`prompt` is empty. Describe what to draw.")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise UserFacingError(
                f"`prompt` is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}."
            )
        if images is not None and not 1 <= images <= MAX_IMAGES:
            raise UserFacingError(f"`images` must be from 1 to {MAX_IMAGES}.")
        if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
            raise UserFacingError(f"`seed` must be from {SEED_MIN} to {SEED_MAX}.")
        options = await self._options(
            interaction, prompt=prompt, size=size, resolution=resolution, images=images, seed=seed
        )
        job = await self.engine.submit(
            JobRequest(
                guild_id=interaction.guild.id,
                channel_id=interaction.channel_id or 0,
                quota_channel_id=rules_channel_id(interaction),
                user_id=interaction.user.id,
                role_ids=tuple(r.id for r in interaction.user.roles),
                options=options,
                interaction=interaction_ref(interaction),
                spoiler=not options.safety,
                parent_job_id=parent.id if parent else None,
            )
        )
        progress = Progress(queue_position=self.engine.position(job.id))
        await interaction.edit_original_response(
            embed=progress_embed(job, progress), view=progress_view(job.id)
        )
        return job

    async def _options(
        self,
        interaction: discord.Interaction[Any],
        *,
        prompt: str,
        size: str | None,
        resolution: str | None,
        images: int | None,
        seed: int | None,
    ) -> JobOptions:
        """Apply the channel's rules and defaults to what the member asked for, or refuse."""
        assert interaction.guild is not None
        control = self.bot.control
        guild_id = interaction.guild.id
        channel_id = rules_channel_id(interaction)
        settings = await control.channels.get(guild_id, channel_id)
        refusal = is_allowed(settings, await control.channels.get_mode(guild_id))
        if refusal:
            raise UserFacingError(refusal)
        await control.blocklist.ensure_clean(guild_id, prompt)
        resolution = resolution or settings.resolution
        images = images or settings.images
        refusal = check_caps(settings, resolution=resolution, images=images)
        if refusal:
            raise UserFacingError(refusal)
        return JobOptions(
            prompt=prompt,
            size=ImageSize(size or settings.image_size),
            resolution=Resolution(resolution),
            images=images,
            # kie does not report the seed it picked, so pick it here: the result can then
            # always show a seed that reproduces it.
            seed=seed if seed is not None else secrets.randbelow(SEED_MAX + 1),
            safety=settings.safety_for(rules_channel_is_nsfw(interaction)),
        )

    async def _job(self, job_id: str) -> Job:
        job = await self.engine.store.get(job_id)
        if job is None:
            raise UserFacingError("That request no longer exists.")
        return job

    async def cancel(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Cancel a job (its requester only)."""
        job = await self._job(job_id)
        if interaction.user.id != job.user_id:
            raise UserFacingError("Only the member who asked for these images can cancel them.")
        await interaction.response.defer()
        await self.engine.cancel(job_id, interaction.user.id)

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Run the same request again with a new seed, for whoever clicked."""
        job = await self._job(job_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        o = job.options
        await self.start_job(
            interaction,
            prompt=o.prompt,
            size=o.size.value,
            resolution=o.resolution.value,
            images=o.images,
            seed=secrets.randbelow(SEED_MAX),
            parent=job,
        )

    async def open_remix(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Open the remix modal with the earlier prompt filled in."""
        job = await self._job(job_id)
        await interaction.response.send_modal(RemixModal(job_id, job.options.prompt))

    async def remix(self, interaction: discord.Interaction[Any], job_id: str, prompt: str) -> None:
        """Run an earlier request again with an edited prompt (same options and seed)."""
        job = await self._job(job_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        o = job.options
        await self.start_job(
            interaction,
            prompt=prompt,
            size=o.size.value,
            resolution=o.resolution.value,
            images=o.images,
            seed=o.seed,
            parent=job,
        )

    async def delete(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Delete a result message: its requester, or anyone with Manage Messages."""
        job = await self._job(job_id)
        allowed = interaction.user.id == job.user_id or interaction.permissions.manage_messages
        if not allowed:
            raise UserFacingError(
                "Only the member who asked for these images, or a moderator with Manage "
                "Messages, can delete them."
            )
        if interaction.message is None:
            raise UserFacingError("That message is gone already.")
        await interaction.response.defer()
        await interaction.message.delete()
        log.info("job %s: result message deleted by %s", job.id, interaction.user.id)
