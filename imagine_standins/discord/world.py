"""The world the Discord stand-in serves: one application, its bot, its guilds and their members.

Everything here is plain data plus the payload builders that turn it into the JSON shapes
Discord's API v10 sends. No discord.py import: the stand-in models Discord, not the library.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
MIB = 1024 * 1024


class Perm:
    """Permission bits (https://discord.com/developers/docs/topics/permissions)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38
    ALL = (1 << 53) - 1


#: What a new guild's @everyone role gets (the value Discord's docs show for @everyone).
EVERYONE_DEFAULT = 2248473465835073
#: The bot's managed role: what a typical invite URL grants (incl. Mention Everyone, so that a
#: bot that forgets ``allowed_mentions`` visibly pings everybody in the recorded messages).
BOT_ROLE_DEFAULT = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.MENTION_EVERYONE
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.ADD_REACTIONS
    | Perm.SEND_MESSAGES_IN_THREADS
)


class Snowflakes:
    """Time-based snowflakes: ``((ms - DISCORD_EPOCH) << 22) | increment``."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def next(self, at: float | None = None) -> int:
        """Return a new snowflake for ``at`` (epoch seconds, default now)."""
        ms = int((time.time() if at is None else at) * 1000)
        with self._lock:
            increment = next(self._counter) & 0x1FFFF
        return ((ms - DISCORD_EPOCH_MS) << 22) | increment


def snowflake_time(snowflake: int) -> float:
    """Return the epoch seconds a snowflake was created at."""
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000


@functools.lru_cache(maxsize=4096)
def iso(ts: float) -> str:
    """Format epoch seconds the way Discord does (ISO 8601 with offset).

    Cached: a member's ``joined_at`` and a message's timestamp are formatted again for each
    interaction and each answer that carries them.
    """
    return datetime.fromtimestamp(ts, UTC).isoformat()


@dataclass
class User:
    """A Discord user."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    #: The language the user's Discord client is set to; sent as ``locale`` on their
    #: interactions (never part of the user object).
    locale: str = "en-US"

    @property
    def mention(self) -> str:
        """Return the ``<@id>`` mention string."""
        return f"<@{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        """Return the user object."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
        }
        if self.bot:
            payload["bot"] = True
        return payload


@dataclass
class Role:
    """A guild role."""

    id: int
    name: str
    permissions: int
    position: int = 0
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    @property
    def mention(self) -> str:
        """Return the ``<@&id>`` mention string."""
        return f"<@&{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        """Return the role object."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload


@dataclass
class Channel:
    """A guild text channel."""

    id: int
    guild_id: int
    name: str
    position: int
    nsfw: bool = False
    type: int = 0
    topic: str | None = None
    #: ``{target_id: (type 0=role/1=member, allow, deny)}``
    overwrites: dict[int, tuple[int, int, int]] = field(default_factory=dict)

    @property
    def mention(self) -> str:
        """Return the ``<#id>`` mention string."""
        return f"<#{self.id}>"

    def to_payload(self) -> dict[str, Any]:
        """Return the guild channel object."""
        return {
            "id": str(self.id),
            "type": self.type,
            "guild_id": str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "nsfw": self.nsfw,
            "topic": self.topic,
            "parent_id": None,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            "permission_overwrites": [
                {"id": str(target), "type": kind, "allow": str(allow), "deny": str(deny)}
                for target, (kind, allow, deny) in self.overwrites.items()
            ],
        }


@dataclass
class Member:
    """A guild member."""

    user: User
    role_ids: list[int]
    joined_at: float
    nick: str | None = None
    #: The guild this membership is in (a user is a member of each guild separately).
    guild_id: int = 0

    @property
    def id(self) -> int:
        """Return the user id."""
        return self.user.id

    @property
    def mention(self) -> str:
        """Return the ``<@id>`` mention string."""
        return self.user.mention

    def to_payload(self, *, with_user: bool = True) -> dict[str, Any]:
        """Return the guild member object."""
        payload: dict[str, Any] = {
            "roles": [str(r) for r in self.role_ids],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        return payload


class Guild:
    """One guild the bot is in: its roles, channels and members (the bot among them).

    Every guild has the same cast (owner, admin, moderator, alice, bob, carol, dave: one
    user each, a member of every guild) with roles and channels of its own.
    """

    def __init__(
        self,
        snowflakes: Snowflakes,
        *,
        guild_id: int,
        name: str,
        bot_user: User,
        owner_user: User,
        cast: dict[str, User] | None = None,
        guild_upload_limit: int = 10 * MIB,
    ) -> None:
        self.snowflakes = snowflakes
        now = time.time()
        self.bot_user = bot_user
        self.owner_user = owner_user
        self.guild_id = guild_id
        self.guild_name = name
        #: The server's preferred locale ("Community" servers choose it): GUILD_CREATE's
        #: ``preferred_locale`` and every interaction's ``guild_locale``.
        self.preferred_locale = "en-US"
        self.guild_upload_limit = guild_upload_limit

        self.everyone = Role(self.guild_id, "@everyone", EVERYONE_DEFAULT, 0)
        self.artists_role = Role(snowflakes.next(), "Artists", 0, 1, mentionable=True)
        self.moderators_role = Role(snowflakes.next(), "Moderators", Perm.MANAGE_MESSAGES, 2)
        self.admins_role = Role(snowflakes.next(), "Admins", Perm.MANAGE_GUILD, 3)
        self.bot_role = Role(
            snowflakes.next(),
            "Imagine Test Bot",
            BOT_ROLE_DEFAULT,
            4,
            managed=True,
            bot_id=self.bot_user.id,
        )
        self.roles: dict[int, Role] = {
            r.id: r
            for r in (
                self.everyone,
                self.artists_role,
                self.moderators_role,
                self.admins_role,
                self.bot_role,
            )
        }

        self.channel = Channel(snowflakes.next(), self.guild_id, "general", 0)
        self.nsfw_channel = Channel(snowflakes.next(), self.guild_id, "after-dark", 1, nsfw=True)
        self.other_channel = Channel(snowflakes.next(), self.guild_id, "random", 2)
        self.channels: dict[int, Channel] = {
            c.id: c for c in (self.channel, self.nsfw_channel, self.other_channel)
        }

        def person(username: str, global_name: str) -> User:
            if cast is not None:
                return cast[username]
            return User(snowflakes.next(), username, global_name)

        self.members: dict[int, Member] = {}
        self._extra = itertools.count(1)
        self.bot_member = self._add(self.bot_user, [self.bot_role.id], now)
        self.owner = self._add(self.owner_user, [], now)
        self.admin = self._add(person("admin", "Ada Admin"), [self.admins_role.id])
        self.moderator = self._add(person("moderator", "Mo Moderator"), [self.moderators_role.id])
        self.alice = self._add(person("alice", "Alice"), [self.artists_role.id])
        self.bob = self._add(person("bob", "Bob"), [])
        self.carol = self._add(person("carol", "Carol"), [])
        self.dave = self._add(person("dave", "Dave"), [])
        #: The ordinary members (no moderation or admin role).
        self.ordinary_members = [self.alice, self.bob, self.carol, self.dave]

    @property
    def cast(self) -> dict[str, User]:
        """Return the users every guild shares, by username."""
        people = (self.admin, self.moderator, *self.ordinary_members)
        return {m.user.username: m.user for m in people}

    def _add(self, user: User, role_ids: list[int], joined: float | None = None) -> Member:
        joined_at = joined if joined is not None else time.time()
        member = Member(user, role_ids, joined_at, guild_id=self.guild_id)
        self.members[user.id] = member
        return member

    def add_members(self, count: int, *, role_ids: list[int] | None = None) -> list[Member]:
        """Create ``count`` extra ordinary members (``user0001``, ``user0002``, …)."""
        created = []
        for _ in range(count):
            n = next(self._extra)
            user = User(self.snowflakes.next(), f"user{n:04d}", f"User {n}")
            created.append(self._add(user, list(role_ids or [])))
        return created

    def member_named(self, username: str) -> Member:
        """Return the member with this username."""
        for member in self.members.values():
            if member.user.username == username:
                return member
        raise KeyError(username)

    # ----------------------------------------------------------------- permissions
    def base_permissions(self, member: Member) -> int:
        """Return the member's guild-level permissions."""
        if member.id == self.owner_user.id:
            return Perm.ALL
        perms = self.everyone.permissions
        for role_id in member.role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return Perm.ALL
        return perms

    def channel_permissions(self, member: Member, channel: Channel) -> int:
        """Return the member's permissions in a channel (overwrites applied)."""
        perms = self.base_permissions(member)
        if perms == Perm.ALL:
            return perms
        ow = channel.overwrites
        if self.guild_id in ow:
            _, allow, deny = ow[self.guild_id]
            perms = (perms & ~deny) | allow
        allow_roles = deny_roles = 0
        for role_id in member.role_ids:
            if role_id in ow:
                _, allow, deny = ow[role_id]
                allow_roles |= allow
                deny_roles |= deny
        perms = (perms & ~deny_roles) | allow_roles
        if member.id in ow:
            _, allow, deny = ow[member.id]
            perms = (perms & ~deny) | allow
        if not perms & Perm.VIEW_CHANNEL:
            return 0
        return perms

    # ----------------------------------------------------------------- payloads
    def guild_payload(self, *, members: list[Member] | None = None) -> dict[str, Any]:
        """Return the GUILD_CREATE payload (``members`` defaults to all of them)."""
        included = list(self.members.values()) if members is None else members
        return {
            "id": str(self.guild_id),
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_user.id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 2,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "system_channel_id": str(self.channel.id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [r.to_payload() for r in self.roles.values()],
            "channels": [c.to_payload() for c in self.channels.values()],
            "threads": [],
            "members": [m.to_payload() for m in included],
            "member_count": len(self.members),
            "large": len(self.members) > 250,
            "unavailable": False,
            "joined_at": iso(self.bot_member.joined_at),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "lazy": True,
            "application_id": None,
            "max_members": 500000,
            "nsfw": False,
        }

    def interaction_channel_payload(self, channel: Channel, permissions: int) -> dict[str, Any]:
        """Return a channel object as interactions and resolved data carry it.

        ``permissions``: the invoking member's there (``channel_permissions``).
        """
        payload = channel.to_payload()
        payload["permissions"] = str(permissions)
        return payload


class World(Guild):
    """The application, its bot user, and the guilds the bot is in.

    The world is also its first guild, so that the many tests that know one guild keep
    writing ``world.alice`` and ``world.channel``; ``add_guild`` adds more (sharding).
    """

    def __init__(self, snowflakes: Snowflakes, *, guild_upload_limit: int = 10 * MIB) -> None:
        self.application_id = snowflakes.next()
        bot_user = User(snowflakes.next(), "Imagine Test Bot", bot=True)
        owner_user = User(snowflakes.next(), "owner", "Guild Owner")
        super().__init__(
            snowflakes,
            guild_id=snowflakes.next(),
            name="Fake Guild",
            bot_user=bot_user,
            owner_user=owner_user,
            guild_upload_limit=guild_upload_limit,
        )
        self.verify_key = "0" * 64
        self.guilds: dict[int, Guild] = {self.guild_id: self}

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None) -> Guild:
        """Add a guild with the same cast; with ``shard=(id, count)``, one on that shard.

        Discord routes a guild to shard ``(guild_id >> 22) % count``; the id's timestamp is
        moved back by whole milliseconds until it lands there.
        """
        at = time.time()
        guild_id = self.snowflakes.next(at)
        if shard is not None:
            shard_id, count = shard
            if not 0 <= shard_id < count:
                raise ValueError(f"no shard {shard_id} among {count}")
            while shard_of(guild_id, count) != shard_id:
                at -= 0.001
                guild_id = self.snowflakes.next(at)
        guild = Guild(
            self.snowflakes,
            guild_id=guild_id,
            name=name,
            bot_user=self.bot_user,
            owner_user=self.owner_user,
            cast=self.cast,
            guild_upload_limit=self.guild_upload_limit,
        )
        self.guilds[guild_id] = guild
        return guild

    def find_channel(self, channel_id: int) -> Channel | None:
        """Return the channel with this id in any guild."""
        for guild in self.guilds.values():
            channel = guild.channels.get(channel_id)
            if channel is not None:
                return channel
        return None

    def guild_of(self, channel: Channel) -> Guild:
        """Return the guild a channel is in."""
        return self.guilds[channel.guild_id]

    def users(self) -> dict[int, User]:
        """Return every user the bot can see (members of any of its guilds)."""
        return {uid: m.user for g in self.guilds.values() for uid, m in g.members.items()}

    def user(self, user_id: int) -> User | None:
        """Return one user the bot can see (a member of any of its guilds), or None."""
        for guild in self.guilds.values():
            member = guild.members.get(user_id)
            if member is not None:
                return member.user
        return None

    def application_payload(self) -> dict[str, Any]:
        """Return ``GET /oauth2/applications/@me``."""
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": self.verify_key,
            "flags": 0,
            "owner": self.owner_user.to_payload(),
            "team": None,
            "bot": self.bot_user.to_payload(),
            "rpc_origins": [],
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
        }


def shard_of(guild_id: int, shard_count: int) -> int:
    """Return the shard that receives a guild's events (Discord's formula)."""
    return (guild_id >> 22) % shard_count
