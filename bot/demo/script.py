"""The demo's scripted session: what members and an admin do in #general, one step at a time.

Every step acts through the Discord stand-in's harness as a member's client would (a slash
command, a button click) and waits for the bot's answer, so a step that the bot fails ends the
demo with that step's name. The last step leaves a job generating, so the transcript also
shows live progress with its Cancel button.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.demo.session import Stage
from bot.jobs.models import JobState

__all__ = ["STEPS", "Step"]

Step = Callable[[Stage], Awaitable[None]]

BLOCKED_WORD = "gore"


async def admin_sets_rules(stage: Stage) -> None:
    """An admin refuses a word, gives everyone 20 images a day and Dave only two."""
    w = stage.world
    added = await stage.command(w.admin, "imagine-admin blocklist add", {"entry": BLOCKED_WORD})
    await stage.reply(added, "Blocklist: added")
    everyone = await stage.command(
        w.admin, "imagine-admin quota default", {"limit": 20, "period": "day"}
    )
    await stage.reply(everyone, "→")
    limited = await stage.command(
        w.admin, "imagine-admin quota member", {"member": w.dave, "limit": 2, "period": "day"}
    )
    await stage.reply(limited, "→")


async def _imagine(stage: Stage, member: object, **options: object) -> None:
    """Run /imagine and wait until its images are posted."""
    interaction = await stage.command(member, "imagine", options)
    job = await stage.job_for(interaction)
    job = await stage.job_until(job.id, lambda j: j.state.finished)
    if job.state is not JobState.DELIVERED:
        raise RuntimeError(f"/imagine {options['prompt']!r} ended {job.state.value}")
    # The requester's private reply turns into "Done" once the last part is out.
    await stage.reply(interaction, "Done")


async def alice_landscape(stage: Stage) -> None:
    """Alice: a wide landscape."""
    await _imagine(
        stage,
        stage.world.alice,
        prompt="a lighthouse on a cliff at dusk, waves below",
        size="landscape_16_9",
    )


async def bob_four_portraits(stage: Stage) -> None:
    """Bob: four portraits in one job."""
    await _imagine(
        stage,
        stage.world.bob,
        prompt="a red fox in fresh snow, portrait",
        size="portrait_4_3",
        images=4,
    )


async def carol_square_2k(stage: Stage) -> None:
    """Carol: a square image at 2K."""
    await _imagine(
        stage,
        stage.world.carol,
        prompt="a bowl of ramen, studio light",
        size="square_hd",
        resolution="2K",
    )


async def bob_rerolls_alice(stage: Stage) -> None:
    """Bob presses Reroll on Alice's lighthouse: same options, a new seed, charged to Bob."""
    w = stage.world
    [original] = [
        m
        for m in stage.discord.messages_in(w.channel, include_ephemeral=False)
        if m.attachments and "lighthouse" in str(m.embeds)
    ]
    reroll = next(c for c in original.custom_ids if c.startswith("imagine:reroll:"))
    click = await stage.click(original, reroll, w.bob)
    job = await stage.job_for(click)
    job = await stage.job_until(job.id, lambda j: j.state.finished)
    if job.state is not JobState.DELIVERED:
        raise RuntimeError(f"the reroll ended {job.state.value}")


async def carol_cancels(stage: Stage) -> None:
    """Carol starts a slow job and presses Cancel while kie.ai works on it."""
    w = stage.world
    prompt = "a city of glass at night, aerial view"
    stage.slow_prompts.add(prompt)
    interaction = await stage.command(
        w.carol, "imagine", {"prompt": prompt, "size": "landscape_21_9"}
    )
    job = await stage.job_for(interaction)
    await stage.job_until(job.id, lambda j: j.task_id is not None)
    progress = await stage.reply_with_buttons(interaction)
    await stage.click(progress, f"imagine:cancel:{job.id}", w.carol)
    await stage.job_until(job.id, lambda j: j.state is JobState.CANCELLED)
    await stage.reply(interaction, "Cancelled")


async def dave_blocked_prompt(stage: Stage) -> None:
    """Dave's prompt has a blocklisted word: refused privately, nothing charged."""
    interaction = await stage.command(
        stage.world.dave, "imagine", {"prompt": f"a battlefield full of {BLOCKED_WORD}"}
    )
    await stage.reply(interaction, "blocked")


async def dave_over_quota(stage: Stage) -> None:
    """Dave uses one of his two images, then asks for two more: refused, naming his limit."""
    dave = stage.world.dave
    await _imagine(stage, dave, prompt="a paper boat on a puddle", size="landscape_4_3")
    interaction = await stage.command(
        dave, "imagine", {"prompt": "two paper boats racing", "images": 2}
    )
    await stage.reply(interaction, "limit")


async def alice_still_generating(stage: Stage) -> None:
    """Alice starts a slow job; the transcript catches its live progress."""
    prompt = "a hot-air balloon festival at sunrise"
    stage.slow_prompts.add(prompt)
    interaction = await stage.command(stage.world.alice, "imagine", {"prompt": prompt})
    job = await stage.job_for(interaction)
    await stage.job_until(job.id, lambda j: j.state is JobState.RUNNING)
    await stage.reply_with_buttons(interaction)


async def alice_checks_quota(stage: Stage) -> None:
    """Alice runs /quota: her limits and the job still in flight."""
    interaction = await stage.command(stage.world.alice, "quota")
    await stage.reply(interaction, "left")


STEPS: list[tuple[str, Step]] = [
    ("an admin sets a blocklist word and quotas", admin_sets_rules),
    ("Alice: /imagine, landscape 16:9", alice_landscape),
    ("Bob: /imagine, 4 portraits", bob_four_portraits),
    ("Carol: /imagine, square at 2K", carol_square_2k),
    ("Bob rerolls Alice's image", bob_rerolls_alice),
    ("Carol cancels a job", carol_cancels),
    ("Dave: a blocklisted prompt", dave_blocked_prompt),
    ("Dave: over his quota", dave_over_quota),
    ("Alice: a job still generating", alice_still_generating),
    ("Alice: /quota", alice_checks_quota),
]
