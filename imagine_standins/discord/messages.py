"""Message storage of the Discord stand-in: validate, store, edit, mention, broadcast."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from imagine_standins.discord.cdn import Cdn, describe_file
from imagine_standins.discord.gateway import INTENT_GUILD_MESSAGES, Gateway
from imagine_standins.discord.records import (
    InteractionRecord,
    Part,
    RecordedRequest,
    StoredAttachment,
    StoredMessage,
)
from imagine_standins.discord.rules import (
    EMPTY_MESSAGE,
    FLAG_COMPONENTS_V2,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    DiscordError,
    FormErrors,
    check_message,
    error,
    is_empty,
    mentioned,
)
from imagine_standins.discord.wire import dumps, loads
from imagine_standins.discord.world import Perm, Snowflakes, World

#: Flags a message create may set (suppress embeds, ephemeral, suppress notifications, V2).
SETTABLE_FLAGS = (1 << 2) | FLAG_EPHEMERAL | (1 << 12) | FLAG_COMPONENTS_V2


class MessageStore:
    """Creates and edits stored messages the way Discord does (mixin of FakeDiscord)."""

    world: World
    snowflakes: Snowflakes
    gateway: Gateway
    messages: dict[int, StoredMessage]
    interactions: dict[int, InteractionRecord]
    dispatch_messages: bool
    cdn: Cdn

    @property
    def base_url(self) -> str:  # pragma: no cover - provided by FakeDiscord
        raise NotImplementedError

    def now(self) -> float:  # pragma: no cover - provided by FakeDiscord
        raise NotImplementedError

    def _user_payloads(self, user_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        # Only the users asked for: building every member's object for each message made
        # the stand-in, not the bot, the bottleneck of bench/line_bench.py (2,000 members).
        found = ((uid, self.world.user(uid)) for uid in user_ids)
        return {uid: user.to_payload() for uid, user in found if user is not None}

    def message_payload(self, message: StoredMessage) -> dict[str, Any]:
        """Return the message object Discord would answer with."""
        payload = message.to_payload(self._user_payloads(message.mention_user_ids))
        payload["guild_id"] = str(message.guild_id)
        for attachment in payload["attachments"]:
            # Discord signs an attachment link anew each time it serves the message.
            attachment["url"] = attachment["proxy_url"] = self.cdn.refresh(attachment["url"])
        if message.interaction_id is not None:
            inter = self.interactions[message.interaction_id]
            user = self.world.user(inter.member_id)
            assert user is not None  # interactions come from members
            payload["interaction_metadata"] = {
                "id": str(inter.id),
                "type": inter.type,
                "user": user.to_payload(),
                "authorizing_integration_owners": {"0": str(message.guild_id)},
            }
        return payload

    @staticmethod
    def _uploads(rec: RecordedRequest) -> dict[int, Part]:
        uploads: dict[int, Part] = {}
        for part in rec.files:
            match = re.fullmatch(r"files\[(\d+)\]", part.name)
            index = int(match.group(1)) if match else len(uploads)
            uploads[index] = part
        return uploads

    def _store_upload(
        self, part: Part, channel_id: int, filename: str, description: str | None
    ) -> StoredAttachment:
        attachment_id = self.snowflakes.next()
        content_type, width, height = describe_file(
            filename, part.data, mimetypes.guess_type(filename)[0] or part.content_type
        )
        url = self.cdn.sign(f"/attachments/{channel_id}/{attachment_id}/{quote(filename)}")
        return StoredAttachment(
            attachment_id,
            filename,
            len(part.data),
            content_type,
            part.data,
            url,
            description,
            width,
            height,
        )

    def _attachments(
        self,
        payload: dict[str, Any],
        uploads: dict[int, Part],
        existing: list[StoredAttachment],
        channel_id: int,
    ) -> list[StoredAttachment]:
        entries = payload.get("attachments")
        by_id = {a.id: a for a in existing}
        used: set[int] = set()
        result = list(existing) if entries is None else []
        errors = FormErrors()
        for i, entry in enumerate(entries or []):
            try:
                ref = int(entry.get("id"))
            except (TypeError, ValueError):
                errors.required(("attachments", i, "id"), False)
                continue
            if ref in by_id:
                result.append(by_id[ref])
            elif ref in uploads:
                part = uploads[ref]
                name = entry.get("filename") or part.filename or "unknown"
                result.append(self._store_upload(part, channel_id, name, entry.get("description")))
                used.add(ref)
            else:
                errors.add(
                    ("attachments", i, "id"),
                    "ATTACHMENT_NOT_FOUND",
                    "Attachment id does not match an upload or an existing attachment",
                )
        errors.raise_if_any()
        for index in sorted(uploads):
            if index not in used:
                part = uploads[index]
                result.append(
                    self._store_upload(part, channel_id, part.filename or "unknown", None)
                )
        return result

    @staticmethod
    def _embeds(embeds: list[dict[str, Any]], attachments: list[StoredAttachment]) -> list[Any]:
        by_name = {a.filename: a for a in attachments}
        result = []
        for embed in embeds:
            embed = {"type": "rich", **loads(dumps(embed))}
            for key in ("image", "thumbnail"):
                media = embed.get(key)
                url = (media or {}).get("url") or ""
                if (
                    isinstance(media, dict)
                    and url.startswith("attachment://")
                    and url[13:] in by_name
                ):
                    att = by_name[url[13:]]
                    media.update(url=att.url, proxy_url=att.url, width=att.width, height=att.height)
            result.append(embed)
        return result

    def _apply_mentions(self, message: StoredMessage, *, notify: bool) -> None:
        channel = self.world.find_channel(message.channel_id)
        assert channel is not None  # messages are only stored in existing channels
        world = self.world.guild_of(channel)
        users, roles, everyone = mentioned(message.content)
        allowed = message.allowed_mentions
        if allowed is None:
            parse = {"users", "roles", "everyone"}
            allowed_users: set[int] = set()
            allowed_roles: set[int] = set()
        else:
            parse = set(allowed.get("parse") or [])
            allowed_users = {int(u) for u in allowed.get("users") or []}
            allowed_roles = {int(r) for r in allowed.get("roles") or []}
        ping_users = {u for u in users if "users" in parse or u in allowed_users}
        # The author's permissions only matter to role and @everyone mentions.
        can_mention_all = bool(
            (roles or everyone)
            and world.channel_permissions(world.bot_member, channel) & Perm.MENTION_EVERYONE
        )
        ping_roles = {
            r
            for r in roles
            if r in world.roles
            and ("roles" in parse or r in allowed_roles)
            and (world.roles[r].mentionable or can_mention_all)
        }
        ping_everyone = everyone and "everyone" in parse and can_mention_all
        message.mention_user_ids = sorted(u for u in ping_users if u in world.members)
        message.mention_role_ids = sorted(ping_roles)
        message.mention_everyone = ping_everyone
        if not notify:
            return
        pinged = {u for u in ping_users if u in world.members}
        if ping_everyone or ping_roles:  # else no member is pinged by role or @everyone
            for member in world.members.values():
                if ping_everyone or ping_roles.intersection(member.role_ids):
                    pinged.add(member.id)
        ref = message.message_reference
        replied = True if allowed is None else bool(allowed.get("replied_user"))
        if ref and replied:
            target = self.messages.get(int(ref.get("message_id") or 0))
            if target is not None:
                pinged.add(int(target.author["id"]))
        pinged.discard(world.bot_user.id)
        message.pinged_user_ids = set() if message.ephemeral else pinged

    def _new_message(
        self,
        rec: RecordedRequest,
        payload: dict[str, Any],
        *,
        channel_id: int,
        kind: str,
        size_limit: int,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> StoredMessage:
        uploads = self._uploads(rec)
        check_message(
            payload, upload_sizes=[len(p.data) for p in uploads.values()], size_limit=size_limit
        )
        attachments = self._attachments(payload, uploads, [], channel_id)
        message = StoredMessage(
            id=self.snowflakes.next(),
            channel_id=channel_id,
            guild_id=self._guild_id_of(channel_id),
            author=self.world.bot_user.to_payload(),
            created=self.now(),
            kind=kind,
            content=payload.get("content") or "",
            embeds=self._embeds(payload.get("embeds") or [], attachments),
            components=payload.get("components") or [],
            attachments=attachments,
            flags=(int(payload.get("flags") or 0) & SETTABLE_FLAGS) if flags is None else flags,
            allowed_mentions=payload.get("allowed_mentions"),
            message_reference=payload.get("message_reference"),
            interaction_id=interaction.id if interaction else None,
            webhook_id=self.world.application_id if interaction else None,
        )
        if not message.loading and is_empty(
            {**payload, "attachments": attachments, "content": message.content}
        ):
            raise error(EMPTY_MESSAGE)
        if message.message_reference is not None:
            ref_id = int(message.message_reference.get("message_id") or 0)
            if ref_id not in self.messages:
                raise DiscordError(
                    400,
                    50035,
                    "Invalid Form Body",
                    {
                        "message_reference": {
                            "_errors": [
                                {
                                    "code": "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                                    "message": "Unknown message",
                                }
                            ]
                        }
                    },
                )
        self._apply_mentions(message, notify=not message.loading)
        self.messages[message.id] = message
        return message

    def _edit(
        self, rec: RecordedRequest, message: StoredMessage, payload: dict[str, Any], size_limit: int
    ) -> StoredMessage:
        uploads = self._uploads(rec)
        kept = len(message.attachments) if "attachments" not in payload else 0
        check_message(
            payload,
            upload_sizes=[len(p.data) for p in uploads.values()],
            size_limit=size_limit,
            kept_attachments=kept,
        )
        attachments = self._attachments(payload, uploads, message.attachments, message.channel_id)
        content = message.content
        if "content" in payload:
            content = payload["content"] or ""
        embeds = message.embeds
        if "embeds" in payload:
            embeds = self._embeds(payload["embeds"] or [], attachments)
        components = message.components
        if "components" in payload:
            components = payload["components"] or []
        result = {
            "content": content,
            "embeds": embeds,
            "components": components,
            "attachments": attachments,
        }
        if is_empty(result):
            raise error(EMPTY_MESSAGE)
        was_loading = message.loading
        message.content, message.embeds, message.components = content, embeds, components
        message.attachments = attachments
        if "allowed_mentions" in payload:
            message.allowed_mentions = payload["allowed_mentions"]
        # Ephemerality is fixed at creation; only suppress-embeds may change, and the first
        # edit of a deferred response clears the loading state.
        message.flags &= ~(FLAG_LOADING | (1 << 2))
        message.flags |= int(payload.get("flags") or 0) & (1 << 2)
        message.edited = None if was_loading else self.now()
        message.edits += 1
        self._apply_mentions(message, notify=was_loading)
        return message

    async def _broadcast(self, event: str, message: StoredMessage) -> None:
        if not self.dispatch_messages or message.ephemeral or message.loading:
            return
        if event == "MESSAGE_DELETE":
            data: dict[str, Any] = {
                "id": str(message.id),
                "channel_id": str(message.channel_id),
                "guild_id": str(message.guild_id),
            }
        else:
            data = self.message_payload(message)
            if event == "MESSAGE_CREATE" and message.nonce is not None:
                data["nonce"] = message.nonce
        await self.gateway.dispatch(
            event, data, guild_id=message.guild_id, intent=INTENT_GUILD_MESSAGES
        )

    def _guild_id_of(self, channel_id: int) -> int:
        channel = self.world.find_channel(channel_id)
        return self.world.guild_id if channel is None else channel.guild_id
