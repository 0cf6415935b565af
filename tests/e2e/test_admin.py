"""/imagine-admin and /quota end to end: the real bot against the Discord and kie stand-ins."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from fnmatch import fnmatch
from typing import Any

import pytest
from PIL import Image

from bot.control import audit
from bot.control.usage_chart import CHART_SIZE
from bot.jobs.models import JobState
from imagine_standins.discord import InteractionRecord, StoredMessage
from imagine_standins.kie import Durations
from tests.e2e.stack import Stack, text_of

MANAGE_GUILD = 1 << 5

# Every /imagine-admin subcommand with options an admin could send; the refusal test runs
# each as a member without Manage Server, and test_command_tree checks none is missing.
ADMIN_CALLS: list[tuple[str, Callable[[Any], dict[str, Any]]]] = [
    ("channel enable", lambda w: {}),
    ("channel disable", lambda w: {"channel": w.channel}),
    ("channel set", lambda w: {"images": 2, "max_resolution": "2K"}),
    ("channel show", lambda w: {"channel": w.other_channel}),
    ("mode", lambda w: {"mode": "allowlist"}),
    ("quota default", lambda w: {"limit": 5, "period": "day"}),
    ("quota role", lambda w: {"role": w.artists_role, "limit": 5, "period": "week"}),
    ("quota member", lambda w: {"member": w.alice, "limit": 100, "period": "month"}),
    ("quota channel", lambda w: {"channel": w.channel, "limit": 10, "period": "day"}),
    ("quota server", lambda w: {"limit": 0, "period": "day"}),
    ("quota clear", lambda w: {"scope": "member", "member": w.bob}),
    ("quota show", lambda w: {}),
    ("quota reset", lambda w: {"member": w.bob}),
    ("blocklist add", lambda w: {"entry": "dragons"}),
    ("blocklist remove", lambda w: {"entry": "secretword"}),
    ("blocklist list", lambda w: {}),
    ("usage", lambda w: {"period": "week"}),
]

STATE_TABLES = (
    "audit_log",
    "blocklist",
    "channel_settings",
    "guild_settings",
    "quota_limits",
    "quota_usage",
)


async def answer(
    stack: Stack,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    member: Any = None,
    channel: Any = None,
) -> StoredMessage:
    """Run a slash command (default: as the admin) and return its finished, private reply."""
    interaction = await stack.discord.send_slash_command(
        member or stack.world.admin, name, options or {}, channel=channel
    )
    message = await reply_of(stack, interaction)
    assert message.ephemeral, f"/{name} answered publicly"
    assert not message.pinged_user_ids and not message.mention_everyone
    assert message.allowed_mentions is not None and not message.allowed_mentions.get("parse")
    return message


async def reply_of(stack: Stack, interaction: InteractionRecord) -> StoredMessage:
    """Wait until the interaction's reply is no longer 'thinking…'."""
    return await stack.discord.wait_for(
        lambda: (m := stack.discord.original_for(interaction)) and not m.loading and m,
        timeout=10,
    )


async def admin(stack: Stack, path: str, options: dict[str, Any] | None = None, **kw: Any) -> str:
    """Run `/imagine-admin <path>` and return the text of its reply."""
    return text_of(await answer(stack, f"imagine-admin {path}", options, **kw))


async def quota(stack: Stack, member: Any = None, **kw: Any) -> str:
    """Run /quota as `member` (default: alice) and return what it says."""
    return text_of(await answer(stack, "quota", member=member or stack.world.alice, **kw))


async def snapshot(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Return every row an admin command can change."""
    return {
        table: [dict(r) for r in await stack.db.fetch(f"SELECT * FROM {table} ORDER BY 1, 2")]
        for table in STATE_TABLES
    }


async def audit_rows(stack: Stack) -> list[audit.AuditEntry]:
    """Return the guild's audit rows, oldest first."""
    return list(reversed(await audit.recent(stack.db, stack.world.guild_id, limit=100)))


async def delivered(stack: Stack, member: Any = None, **options: Any) -> None:
    """Run /imagine and wait until its images are delivered."""
    interaction = await stack.imagine(member, **options)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    assert job.state is JobState.DELIVERED, job.fail_message


def _command(stack: Stack, name: str) -> dict[str, Any]:
    for commands in stack.discord.commands.values():
        for command in commands:
            if command["name"] == name:
                return command
    raise AssertionError(f"/{name} was not synced")


def _paths(node: dict[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Return each subcommand path of a synced command with its option names."""
    out: dict[str, list[str]] = {}
    for option in node.get("options") or []:
        path = f"{prefix}{option['name']}"
        if option["type"] == 2:
            out.update(_paths(option, path + " "))
        elif option["type"] == 1:
            out[path] = [o["name"] for o in option.get("options") or []]
    return out


# -- the command tree -------------------------------------------------------------------------


async def test_command_tree(stack: Stack) -> None:
    """/imagine-admin syncs with these paths and options, guild only, Manage Server as the hint."""
    command = _command(stack, "imagine-admin")
    assert int(command["default_member_permissions"]) == MANAGE_GUILD
    assert command.get("contexts") == [0] or command.get("dm_permission") is False
    assert _paths(command) == {
        "channel enable": ["channel"],
        "channel disable": ["channel"],
        "channel set": [
            "channel",
            "size",
            "resolution",
            "images",
            "max_resolution",
            "max_images",
            "safety",
            "clear",
        ],
        "channel show": ["channel"],
        "mode": ["mode"],
        "quota default": ["limit", "period"],
        "quota role": ["role", "limit", "period"],
        "quota member": ["member", "limit", "period"],
        "quota channel": ["channel", "limit", "period"],
        "quota server": ["limit", "period"],
        "quota clear": ["scope", "role", "member", "channel"],
        "quota show": [],
        "quota reset": ["member"],
        "blocklist add": ["entry"],
        "blocklist remove": ["entry"],
        "blocklist list": [],
        "usage": ["period"],
    }
    assert sorted(_paths(command)) == sorted(path for path, _ in ADMIN_CALLS)
    member_quota = _command(stack, "quota")
    assert member_quota.get("default_member_permissions") is None
    assert not member_quota.get("options")


# -- who may use it ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "options"), ADMIN_CALLS, ids=[p for p, _ in ADMIN_CALLS])
async def test_members_without_manage_server_are_refused(
    stack: Stack, path: str, options: Callable[[Any], dict[str, Any]]
) -> None:
    """Alice (no Manage Server) is refused privately by every subcommand; nothing changes."""
    w = stack.world
    control, now = stack.bot.control, time.time()
    # Something for each command to change or reveal, so "nothing changed" means something.
    await control.blocklist.add(w.guild_id, "secretword", actor_id=w.admin.id, now=now)
    await control.quotas.set_limit(
        w.guild_id, "member", w.bob.id, 3, "day", actor_id=w.admin.id, now=now
    )
    await delivered(stack, w.bob)
    before = await snapshot(stack)
    text = await admin(stack, path, options(w), member=w.alice)
    assert "Manage Server" in text
    assert "secretword" not in text and "credits" not in text.lower()
    assert await snapshot(stack) == before


async def test_moderators_are_refused_and_admins_and_the_owner_are_not(stack: Stack) -> None:
    """Manage Messages is not enough; Manage Server (or ownership) is."""
    w = stack.world
    assert "Manage Server" in await admin(stack, "quota show", member=w.moderator)
    assert "Quotas" in await admin(stack, "quota show", member=w.admin)
    assert "Quotas" in await admin(stack, "quota show", member=w.owner)


# -- quotas -----------------------------------------------------------------------------------


async def test_admin_sets_quotas_and_sees_old_and_new(stack: Stack) -> None:
    """Each quota write answers old → new, and the audit table keeps who, what, when."""
    w = stack.world
    alice, artists = w.alice.id, w.artists_role.id
    member = {"member": w.alice, "period": "day"}
    assert f"<@{alice}>'s limit: not set → **1 image per day**" in await admin(
        stack, "quota member", {**member, "limit": 1}
    )
    assert f"<@{alice}>'s limit: 1 image per day → **3 images per week**" in await admin(
        stack, "quota member", {**member, "limit": 3, "period": "week"}
    )
    assert f"<@&{artists}>'s limit: not set → **5 images per day**" in await admin(
        stack, "quota role", {"role": w.artists_role, "limit": 5, "period": "day"}
    )
    assert "Default limit (every member): not set → **0 (not allowed)**" in await admin(
        stack, "quota default", {"limit": 0, "period": "month"}
    )
    assert f"<#{w.channel.id}>'s total: not set → **50 images per day**" in await admin(
        stack, "quota channel", {"channel": w.channel, "limit": 50, "period": "day"}
    )
    assert "Server total: not set → **200 images per month**" in await admin(
        stack, "quota server", {"limit": 200, "period": "month"}
    )
    shown = await admin(stack, "quota show")
    for line in (
        "Default limit (every member): 0 (not allowed)",
        "Server total: 200 images per month",
        f"<@&{artists}>'s limit: 5 images per day",
        f"<@{alice}>'s limit: 3 images per week",
        f"<#{w.channel.id}>'s total: 50 images per day",
    ):
        assert line in shown

    rows = await audit_rows(stack)
    assert [(r.action, r.target) for r in rows] == [
        ("quota.set", f"member:{alice}"),
        ("quota.set", f"member:{alice}"),
        ("quota.set", f"role:{artists}"),
        ("quota.set", "default"),
        ("quota.set", f"channel:{w.channel.id}"),
        ("quota.set", "server"),
    ]
    assert {r.actor_id for r in rows} == {w.admin.id}
    assert rows[1].old == {"limit": 1, "period": "day"}
    assert rows[1].new == {"limit": 3, "period": "week"}
    assert all(time.time() - r.created_at < 60 for r in rows)


async def test_quota_clear_needs_the_matching_target(stack: Stack) -> None:
    """Clearing a role, member or channel limit names the option it needs; the rest clear."""
    w = stack.world
    await admin(stack, "quota member", {"member": w.bob, "limit": 2, "period": "day"})
    assert "also give the `member` option" in await admin(stack, "quota clear", {"scope": "member"})
    assert "takes only the `member` option" in await admin(
        stack, "quota clear", {"scope": "member", "member": w.bob, "role": w.artists_role}
    )
    assert "takes no member option" in await admin(
        stack, "quota clear", {"scope": "server", "member": w.bob}
    )
    cleared = await admin(stack, "quota clear", {"scope": "member", "member": w.bob})
    assert f"<@{w.bob.id}>'s limit: 2 images per day → **not set**" in cleared
    assert "nothing changed" in await admin(stack, "quota clear", {"scope": "server"})
    assert "use `/imagine-admin quota default`" in await admin(
        stack, "quota role", {"role": w.everyone, "limit": 1, "period": "day"}
    )
    assert [r.action for r in await audit_rows(stack)] == [
        "quota.set",
        "quota.clear",
        "quota.clear",
    ]


async def test_member_hits_the_quota_admin_set_and_quota_shows_it(stack: Stack) -> None:
    """Admin gives alice 1 a day: the first is delivered, the second refused, /quota agrees."""
    w = stack.world
    await admin(stack, "quota member", {"member": w.alice, "limit": 1, "period": "day"})
    await delivered(stack)
    second = await stack.imagine()
    refusal = await stack.wait_reply(second, "limit of 1")
    assert "per day" in refusal and "<t:" in refusal
    assert stack.discord.original_for(second).ephemeral  # type: ignore[union-attr]
    assert len(stack.kie.tasks_created()) == 1

    shown = await quota(stack)
    assert "You (set for you)" in shown
    assert "**0 of 1** left per day · resets <t:" in shown
    assert "can't generate more images here" in shown

    reset = await admin(stack, "quota reset", {"member": w.alice})
    assert f"<@{w.alice.id}>'s counted images reset: this day 1 → **0**" in reset
    assert "**1 of 1** left per day" in await quota(stack)
    assert "nothing to reset" in await admin(stack, "quota reset", {"member": w.bob})
    await delivered(stack)


async def test_quota_follows_roles_and_the_default(stack: Stack) -> None:
    """A role's limit applies to its members, the default to everyone else; totals too."""
    w = stack.world
    await admin(stack, "quota role", {"role": w.artists_role, "limit": 5, "period": "week"})
    await admin(stack, "quota default", {"limit": 2, "period": "day"})
    await admin(stack, "quota server", {"limit": 100, "period": "month"})
    alice = await quota(stack, w.alice)
    assert "You (from your role)" in alice and "**5 of 5** left per week" in alice
    assert "This server (shared total) **100 of 100** left per month" in alice
    assert "This channel (shared total) unlimited" in alice
    bob = await quota(stack, w.bob)
    assert "You (server default)" in bob and "**2 of 2** left per day" in bob
    assert "You can generate **2 images** more here." in bob


async def test_quota_without_limits_is_unlimited_and_lists_jobs_in_flight(stack: Stack) -> None:
    """With no limit set /quota says unlimited, and it shows the member's running jobs."""
    w = stack.world
    shown = await quota(stack, w.bob)
    assert "No limit applies to you here: **unlimited**." in shown
    assert "In progress (0 of at most 2 at a time) Nothing." in shown
    stack.kie.durations = Durations(0.1, 0.1, 30.0)
    interaction = await stack.imagine(w.bob, prompt="a slow *snail*")
    job = await stack.wait_job((await stack.job_for(interaction)).id, lambda j: bool(j.task_id))
    shown = await quota(stack, w.bob)
    assert "In progress (1 of at most 2 at a time)" in shown
    assert "a slow \\*snail\\*" in shown and "<t:" in shown
    await stack.bot.admission.cancel(job.id, w.bob.id)


async def test_quota_shows_a_disabled_channel(stack: Stack) -> None:
    """/quota in a channel where /imagine is off says so first."""
    await admin(stack, "channel disable")
    assert "/imagine is turned off in this channel." in await quota(stack)


async def test_a_long_quota_list_fits_one_embed(stack: Stack) -> None:
    """Hundreds of member limits are cut to one embed with a count of the rest."""
    w = stack.world
    for member in w.add_members(150):
        await stack.bot.control.quotas.set_limit(
            w.guild_id, "member", member.id, 3, "day", actor_id=w.admin.id, now=time.time()
        )
    message = await answer(stack, "imagine-admin quota show")
    [embed] = message.embeds
    assert len(embed["description"]) <= 4096
    assert "more" in embed["description"].splitlines()[-1]


# -- channels and mode ------------------------------------------------------------------------


async def test_channel_disable_and_enable_steer_imagine(stack: Stack) -> None:
    """Disable (default: this channel) refuses /imagine there; enable lets it run again."""
    w = stack.world
    off = await admin(stack, "channel disable")
    assert f"/imagine in <#{w.channel.id}>: follows the mode → **disabled**" in off
    assert f"Now: /imagine is off in <#{w.channel.id}>." in off
    refused = await stack.imagine()
    await stack.wait_reply(refused, "turned off")
    on = await admin(stack, "channel enable", {"channel": w.channel}, channel=w.other_channel)
    assert f"/imagine in <#{w.channel.id}>: disabled → **enabled**" in on
    assert f"Now: members can use /imagine in <#{w.channel.id}>." in on
    assert "(it already was)" in await admin(stack, "channel enable")
    await delivered(stack)
    rows = await audit_rows(stack)
    assert [r.action for r in rows] == ["channel.disable", "channel.enable", "channel.enable"]
    assert rows[0].target == f"channel:{w.channel.id}"


async def test_allowlist_mode_needs_channels_enabled(stack: Stack) -> None:
    """Mode allowlist answers old → new and refuses /imagine until a channel is enabled."""
    w = stack.world
    text = await admin(stack, "mode", {"mode": "allowlist"})
    assert "Mode: **open** → **allowlist**" in text
    refused = await stack.imagine(channel=w.other_channel)
    await stack.wait_reply(refused, "isn't enabled")
    shown = await admin(stack, "channel show", {"channel": w.other_channel})
    assert "mode **allowlist**" in shown and "isn't enabled" in shown
    await admin(stack, "channel enable", {"channel": w.other_channel})
    await delivered(stack, channel=w.other_channel)
    assert "Mode: **allowlist** → **open**" in await admin(stack, "mode", {"mode": "open"})
    [first, _, last] = await audit_rows(stack)
    assert (first.action, first.old, first.new) == ("mode.set", "open", "allowlist")
    assert (last.old, last.new) == ("allowlist", "open")


async def test_channel_set_show_and_clear(stack: Stack) -> None:
    """Defaults and caps set here reach /imagine, show up, and clear back to the defaults."""
    w = stack.world
    text = await admin(
        stack,
        "channel set",
        {"size": "landscape_16_9", "resolution": "2K", "images": 2, "max_images": 4},
    )
    assert f"<#{w.channel.id}> updated:" in text
    assert "Default size: default → **Landscape 16:9**" in text
    assert "Default resolution: default → **2K**" in text
    assert "Default images: default → **2**" in text
    assert "Max images: no cap → **4**" in text
    assert "Max resolution" not in text  # unchanged values aren't listed

    shown = await admin(stack, "channel show")
    for line in ("Default size Landscape 16:9", "Max images 4", "Safety filter on", "Members can"):
        assert line in shown
    await delivered(stack)
    [task] = stack.kie.tasks_created()
    assert (task.input["image_size"], task.input["image_resolution"]) == ("landscape_16_9", "2K")
    assert task.input["max_images"] == 2
    refused = await stack.imagine(images=5)
    await stack.wait_reply(refused, "at most 4 images")

    cleared = await admin(stack, "channel set", {"clear": "size"})
    assert "Default size: Landscape 16:9 → **default**" in cleared
    everything = await admin(stack, "channel set", {"clear": "all", "max_resolution": "2K"})
    assert "Default resolution: 2K → **default**" in everything
    assert "Max resolution: no cap → **2K**" in everything
    assert "already had these settings" in await admin(
        stack, "channel set", {"max_resolution": "2K"}
    )
    assert "both set and cleared" in await admin(
        stack, "channel set", {"clear": "images", "images": 3}
    )
    assert "at least one setting" in await admin(stack, "channel set")
    assert [r.action for r in await audit_rows(stack)] == ["channel.set"] * 4


async def test_safety_off_only_in_age_restricted_channels(stack: Stack) -> None:
    """Safety off is refused in #general and accepted in #after-dark, whose posts are spoilered."""
    w = stack.world
    refused = await admin(stack, "channel set", {"safety": False})
    assert "age-restricted" in refused
    assert await audit_rows(stack) == []
    text = await admin(stack, "channel set", {"channel": w.nsfw_channel, "safety": False})
    assert "Safety filter: on (default) → **off (images posted as spoilers)**" in text
    shown = await admin(stack, "channel show", {"channel": w.nsfw_channel})
    assert "Safety filter off (images posted as spoilers)" in shown
    interaction = await stack.imagine(channel=w.nsfw_channel)
    job = await stack.wait_job((await stack.job_for(interaction)).id)
    [task] = stack.kie.tasks_created()
    assert task.input["nsfw_checker"] is False
    [result] = stack.results_for(job)
    assert all(a.filename.startswith("SPOILER_") for a in result.attachments)


# -- blocklist --------------------------------------------------------------------------------


async def test_blocklist_add_list_remove(stack: Stack) -> None:
    """A catastrophic regex is refused with the reason; a word is added, listed, used, removed."""
    unsafe = await admin(stack, "blocklist add", {"entry": "re:(a+)+"})
    assert "can't be used: a repeat inside another repeat" in unsafe
    assert "Blocklist: added `gore` (1 entry now)." in await admin(
        stack, "blocklist add", {"entry": "  Gore "}
    )
    assert "Blocklist: added `re:sp[a4]m+` (2 entries now)." in await admin(
        stack, "blocklist add", {"entry": "re:sp[a4]m+"}
    )
    assert "already on the blocklist" in await admin(stack, "blocklist add", {"entry": "gore"})
    listed = await admin(stack, "blocklist list")
    assert "Blocklist (2 entries)" in listed and "`gore`" in listed and "`re:sp[a4]m+`" in listed
    refused = await stack.imagine(prompt="so much GORE")
    await stack.wait_reply(refused, "blocked word")
    assert "Blocklist: removed `gore` (1 entry left)." in await admin(
        stack, "blocklist remove", {"entry": "gore"}
    )
    assert "isn't on the blocklist" in await admin(stack, "blocklist remove", {"entry": "gore"})
    rows = await audit_rows(stack)
    assert [(r.action, r.old, r.new) for r in rows] == [
        ("blocklist.add", None, "gore"),
        ("blocklist.add", None, "re:sp[a4]m+"),
        ("blocklist.remove", "gore", None),
    ]


async def test_a_long_blocklist_is_attached_in_full(stack: Stack) -> None:
    """A blocklist too long for an embed shows what fits and attaches every entry."""
    w = stack.world
    words = [f"a-rather-long-forbidden-word-{n:03d}" for n in range(200)]
    for word in words:
        await stack.bot.control.blocklist.add(w.guild_id, word, actor_id=w.admin.id, now=1.0)
    message = await answer(stack, "imagine-admin blocklist list")
    [embed] = message.embeds
    assert len(embed["description"]) <= 4096
    assert "the full list is attached" in embed["description"]
    [attachment] = message.attachments
    assert attachment.filename == "blocklist.txt"
    assert attachment.data.decode().split() == words


# -- usage ------------------------------------------------------------------------------------


async def test_usage_shows_images_credits_and_top_members(stack: Stack) -> None:
    """After delivered jobs, usage shows their images, their credits and alice on top."""
    w = stack.world
    empty = await admin(stack, "usage", {"period": "day"})
    assert "Images delivered 0" in empty and "Nobody generated images" in empty
    await delivered(stack, images=2)
    await delivered(stack, w.bob)
    text = await admin(stack, "usage")
    assert "Usage this month" in text
    assert "Images delivered 3" in text and "Credits spent 15" in text
    assert f"1. <@{w.alice.id}>: 2 images, 10 credits" in text
    assert f"2. <@{w.bob.id}>: 1 image, 5 credits" in text
    assert "Usage this day" in await admin(stack, "usage", {"period": "day"})


async def test_usage_attaches_a_png_chart(stack: Stack) -> None:
    """The reply carries usage_<period>_<start>.png, a PNG shown as the embed's image."""
    await delivered(stack, images=2)
    await delivered(stack, stack.world.bob)
    message = await answer(stack, "imagine-admin usage", {"period": "week"})
    [attachment] = message.attachments
    assert fnmatch(attachment.filename, "usage_week_????-??-??.png")
    assert attachment.data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(attachment.data)) as image:
        assert image.format == "PNG" and image.size == CHART_SIZE
    [embed] = message.embeds
    assert embed["image"]["url"] == attachment.url
    assert "Credits spent 15" in text_of(message)  # the exact figures stay beside the chart


async def test_usage_of_an_empty_period_says_so_without_a_chart(stack: Stack) -> None:
    """No usage: a clear sentence, and no attachment at all."""
    message = await answer(stack, "imagine-admin usage", {"period": "month"})
    assert message.attachments == []
    assert "No chart: no images were delivered and no credits spent this month." in text_of(message)
