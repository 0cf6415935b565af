"""What the channel holds, read from the Discord stand-in as a member's client would see it.

Messages come as Discord serves them (`message_payload`: content, embeds, components, flags,
attachment links signed afresh); every attachment's bytes are fetched through those links
from the stand-in's CDN, so the transcript shows the files the bot really uploaded. Who ran
which command, or pressed which button, comes from the interactions the harness sent.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from imagine_standins.discord import FakeDiscord

__all__ = ["Channel", "File", "Invocation", "Message", "Person", "take_snapshot"]

FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
OPTION_USER, OPTION_CHANNEL, OPTION_ROLE = 6, 7, 8


@dataclass(frozen=True)
class Person:
    """A member as the channel shows them."""

    id: int
    name: str
    bot: bool = False


@dataclass(frozen=True)
class File:
    """An attached file and its bytes."""

    filename: str
    content_type: str
    data: bytes
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class Invocation:
    """What a member did that the message answers: a command, a button or a form."""

    member: Person
    kind: str  # "command", "button" or "form"
    name: str
    options: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Message:
    """One message as the channel shows it."""

    id: int
    author: Person
    created: float
    content: str
    embeds: list[dict[str, Any]]
    components: list[dict[str, Any]]
    files: list[File]
    ephemeral: bool
    loading: bool
    edited: bool
    invocation: Invocation | None


@dataclass(frozen=True)
class Channel:
    """A channel's messages, oldest first, and the names its mentions refer to."""

    guild: str
    name: str
    messages: list[Message]
    names: dict[tuple[str, int], str] = field(default_factory=dict)
    taken: float = 0.0


def _display(user: dict[str, Any]) -> str:
    return str(user.get("global_name") or user["username"])


def _names(fake: FakeDiscord) -> dict[tuple[str, int], str]:
    world = fake.world
    names = {
        ("user", m.id): m.nick or m.user.global_name or m.user.username
        for m in world.members.values()
    }
    names.update({("role", r.id): r.name for r in world.roles.values()})
    names.update({("channel", c.id): c.name for c in world.channels.values()})
    return names


def _command_definition(fake: FakeDiscord, name: str) -> dict[str, Any] | None:
    for scope in (fake.world.guild_id, "global"):
        for command in fake.commands.get(scope, []):
            if command["name"] == name and command.get("type", 1) == 1:
                return command
    return None


def _option_text(option: dict[str, Any], definition: dict[str, Any] | None, names: Any) -> str:
    value = option["value"]
    kind = option.get("type")
    if kind in (OPTION_USER, OPTION_ROLE, OPTION_CHANNEL):
        label = {OPTION_USER: "user", OPTION_ROLE: "role", OPTION_CHANNEL: "channel"}[kind]
        shown = names.get((label, int(value)), str(value))
        return ("#" if kind == OPTION_CHANNEL else "@") + shown
    for choice in (definition or {}).get("choices") or []:
        if choice["value"] == value:
            return str(choice["name"])
    return str(value)


def _command(fake: FakeDiscord, data: dict[str, Any], names: Any) -> tuple[str, list[Any]]:
    """Return the full command path ("imagine-admin quota member") and its options."""
    path = [data["name"]]
    definition = _command_definition(fake, data["name"])
    options = data.get("options") or []
    # Subcommand groups (2) and subcommands (1) nest the options one level each.
    while len(options) == 1 and options[0].get("type") in (1, 2):
        path.append(options[0]["name"])
        definition = next(
            (d for d in (definition or {}).get("options") or [] if d["name"] == options[0]["name"]),
            None,
        )
        options = options[0].get("options") or []
    shown = []
    for option in options:
        option_def = next(
            (d for d in (definition or {}).get("options") or [] if d["name"] == option["name"]),
            None,
        )
        shown.append((option["name"], _option_text(option, option_def, names)))
    return " ".join(path), shown


def _invocation(fake: FakeDiscord, interaction_id: int | None, names: Any) -> Invocation | None:
    record = fake.interactions.get(interaction_id or 0)
    if record is None:
        return None
    member = fake.world.members[record.member_id]
    person = Person(member.id, names[("user", member.id)], member.user.bot)
    if record.type == 2:
        name, options = _command(fake, record.data, names)
        return Invocation(person, "command", name, tuple(options))
    if record.type == 3:
        source = fake.messages.get(record.source_message_id or 0)
        component = source.find_component(record.data["custom_id"]) if source else None
        label = str((component or {}).get("label") or record.data["custom_id"])
        return Invocation(person, "button", label)
    return Invocation(person, "form", str(record.data.get("custom_id", "")))


async def _file(session: aiohttp.ClientSession, attachment: dict[str, Any]) -> File:
    async with session.get(attachment["url"]) as response:
        response.raise_for_status()
        data = await response.read()
    return File(
        filename=attachment["filename"],
        content_type=attachment.get("content_type") or "application/octet-stream",
        data=data,
        width=attachment.get("width"),
        height=attachment.get("height"),
    )


async def take_snapshot(fake: FakeDiscord, channel_id: int | None = None) -> Channel:
    """Return the channel (default: the guild's first) as it stands now, files included."""
    world = fake.world
    channel = world.channels[channel_id] if channel_id is not None else world.channel
    names = _names(fake)
    messages = []
    async with aiohttp.ClientSession() as session:
        for stored in fake.messages_in(channel):
            payload = fake.message_payload(stored)
            author = payload["author"]
            messages.append(
                Message(
                    id=int(payload["id"]),
                    author=Person(int(author["id"]), _display(author), bool(author.get("bot"))),
                    created=stored.created,
                    content=payload["content"],
                    embeds=payload["embeds"],
                    components=payload["components"],
                    files=[await _file(session, a) for a in payload["attachments"]],
                    ephemeral=bool(payload["flags"] & FLAG_EPHEMERAL),
                    loading=bool(payload["flags"] & FLAG_LOADING),
                    edited=payload.get("edited_timestamp") is not None,
                    invocation=_invocation(fake, stored.interaction_id, names),
                )
            )
    return Channel(
        guild=world.guild_name, name=channel.name, messages=messages, names=names, taken=time.time()
    )
