"""/imagine and its buttons: Discord glue over bot.control.admission and bot.jobs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.control.admission import SEED_MAX, SEED_MIN, Ask, new_seed
from bot.errors import UserFacingError
from bot.i18n import _
from bot.jobs.models import InteractionRef, Job
from bot.jobs.ports import Progress
from bot.jobs.references import OPTIONS, Reference
from bot.kie import MAX_IMAGES, MAX_PROMPT_CHARS
from bot.tree import reply_to_error
from cogs._common import (
    RESOLUTION_CHOICES,
    SIZE_CHOICES,
    lang_for,
    rules_channel_id,
    rules_channel_is_nsfw,
)
from cogs.imagine._edit import EditModal, read_submission, reference_for, result_images
from cogs.imagine._embeds import progress_embed
from cogs.imagine._views import DYNAMIC_ITEMS, RemixModal, progress_view

if TYPE_CHECKING:
    from bot.imagine_bot import ImagineBot

__all__ = ["Imagine"]

log = logging.getLogger(__name__)


def interaction_ref(interaction: discord.Interaction[Any]) -> InteractionRef:
    """Keep what is needed to answer this interaction after a restart."""
    return InteractionRef(
        application_id=interaction.application_id,
        interaction_id=interaction.id,
        token=interaction.token,
        created_at=interaction.created_at.timestamp(),
        attachment_size_limit=interaction.filesize_limit,
        # Discord sends both on every interaction: the member's language for what goes
        # through this interaction, the server's for channel messages later (bot/i18n).
        locale=interaction.locale.value,
        guild_locale=interaction.guild_locale.value if interaction.guild_locale else None,
    )


class Imagine(commands.Cog):
    """Generate images with kie.ai's Seedream 4.0."""

    def __init__(self, bot: ImagineBot) -> None:
        self.bot = bot
        self.admission = bot.admission

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)

    @app_commands.command(name="imagine")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw (up to 5000 characters)",
        size="Shape of the image (default: this channel's, else Square HD)",
        resolution="Long edge of about 1K, 2K or 4K pixels (default: this channel's, else 1K)",
        images="How many images, 1 to 6 (default: this channel's, else 1)",
        seed="Reuse a seed shown under an earlier result to get a similar image",
        image="A picture to start from: JPEG, PNG or WebP, up to 10 MB",
        image2="A second picture to start from",
        image3="A third picture to start from",
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
        image: discord.Attachment | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
    ) -> None:
        """Generate images from a text prompt with Seedream 4.0."""
        # Acknowledge first: Discord gives 3 s, and the checks below touch the database.
        # Ephemeral, so refusals stay private; the images themselves are posted publicly.
        await interaction.response.defer(ephemeral=True, thinking=True)
        given = zip(OPTIONS, (image, image2, image3), strict=True)
        await self.start_job(
            interaction,
            prompt=prompt,
            size=size.value if size else None,
            resolution=resolution.value if resolution else None,
            images=images,
            seed=seed,
            # With any, kie's edit model starts from them (bot/jobs/references.py).
            references=tuple(reference_for(a, name) for name, a in given if a is not None),
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
        references: tuple[Reference, ...] = (),
    ) -> Job:
        """Ask admission to run the request, then show the progress message."""
        if interaction.guild is None or not isinstance(interaction.user, discord.Member):
            raise UserFacingError(_("This only works in a server."))
        job = await self.admission.admit(
            Ask(
                guild_id=interaction.guild.id,
                channel_id=interaction.channel_id or 0,
                rules_channel_id=rules_channel_id(interaction),
                channel_is_nsfw=rules_channel_is_nsfw(interaction),
                user_id=interaction.user.id,
                role_ids=tuple(r.id for r in interaction.user.roles),
                prompt=prompt,
                size=size,
                resolution=resolution,
                images=images,
                seed=seed,
                interaction=interaction_ref(interaction),
                parent_job_id=parent.id if parent else None,
                references=references,
            )
        )
        # The first real message: place in line and when the job will likely start.
        progress = self.bot.engine.waiting(job.id) or Progress()
        lang = lang_for(interaction)
        await interaction.edit_original_response(
            embed=progress_embed(job, progress, lang=lang), view=progress_view(job.id, lang)
        )
        return job

    async def cancel(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Cancel a job (its requester only)."""
        # Cancelled (or refused) before the click is acknowledged: a click the member saw
        # accepted is a cancelled job, whatever happens to this process next.
        await self.admission.cancel(job_id, interaction.user.id)
        await interaction.response.defer()

    async def reroll(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Run the same request again with a new seed, for whoever clicked."""
        job = await self.admission.job(job_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        # An edit job's Reroll starts from the same pictures.
        await self._again(interaction, job, seed=new_seed())

    async def open_remix(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Open the remix modal with the earlier prompt filled in."""
        job = await self.admission.job(job_id)
        await RemixModal(job_id, job.options.prompt, lang_for(interaction)).open(interaction)

    async def remix(self, interaction: discord.Interaction[Any], job_id: str, prompt: str) -> None:
        """Run an earlier request again with an edited prompt (same options and seed)."""
        job = await self.admission.job(job_id)
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._again(interaction, job, prompt=prompt)

    async def open_edit(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Open the Edit modal: a new prompt, and which of this message's images to use."""
        job = await self.admission.job(job_id)
        numbers = list(result_images(interaction.message))
        if not numbers:
            raise UserFacingError(_("This message has no images to edit."))
        await EditModal(job_id, job.options.prompt, numbers, lang_for(interaction)).open(
            interaction
        )

    async def edit(
        self, interaction: discord.Interaction[Any], job_id: str, prompt: str, image: int | None
    ) -> None:
        """Run kie's edit model on one result image (same options and seed), for the clicker."""
        job = await self.admission.job(job_id)
        shown = result_images(interaction.message)
        number = image if image is not None else next(iter(shown), None)
        attachment = shown.get(number) if number is not None else None
        if number is None or attachment is None:
            raise UserFacingError(_("That image is no longer on this message."))
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self._again(
            interaction,
            job,
            prompt=prompt,
            # The message's own link to the image: Discord signed it just now.
            references=(reference_for(attachment, "image", result_image=number),),
        )

    async def _again(
        self,
        interaction: discord.Interaction[Any],
        parent: Job,
        *,
        prompt: str | None = None,
        seed: int | None = None,
        references: tuple[Reference, ...] | None = None,
    ) -> Job:
        """Start a new job from `parent`'s options (Reroll, Remix, Edit), for the clicker."""
        o = parent.options
        return await self.start_job(
            interaction,
            prompt=o.prompt if prompt is None else prompt,
            size=o.size.value,
            resolution=o.resolution.value,
            images=o.images,
            seed=o.seed if seed is None else seed,
            parent=parent,
            references=o.references if references is None else references,
        )

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer the Edit and Remix modals by their custom_id, whichever process opened them."""
        submission = read_submission(interaction)
        if submission is None:
            return
        try:
            if submission.kind == "remix":
                await self.remix(interaction, submission.job_id, submission.prompt)
            else:
                await self.edit(interaction, submission.job_id, submission.prompt, submission.image)
        except Exception as exc:  # noqa: BLE001 - every failure gets the tree's reply
            await reply_to_error(interaction, exc)

    async def delete(self, interaction: discord.Interaction[Any], job_id: str) -> None:
        """Delete a result message: its requester, or anyone with Manage Messages."""
        job = await self.admission.job(job_id)
        self.admission.ensure_may_delete(
            job, interaction.user.id, manages_messages=interaction.permissions.manage_messages
        )
        if interaction.message is None:
            raise UserFacingError(_("That message is gone already."))
        await interaction.response.defer()
        await interaction.message.delete()
        log.info("job %s: result message deleted by %s", job.id, interaction.user.id)
