"""REST routes of the Discord stand-in: the table, and a handler for each route."""

from __future__ import annotations

from typing import Any

from imagine_standins.discord.command_rules import check_bulk_commands
from imagine_standins.discord.messages import SETTABLE_FLAGS, MessageStore
from imagine_standins.discord.records import (
    InteractionRecord,
    RecordedRequest,
    StoredMessage,
)
from imagine_standins.discord.rules import (
    ALREADY_ACKNOWLEDGED,
    CANNOT_EDIT_OTHERS,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    INVALID_WEBHOOK_TOKEN,
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    FormErrors,
    check_history_query,
    check_modal,
    check_nonce,
    error,
    unknown,
)
from imagine_standins.discord.world import Channel, Guild, Perm

#: ``name: (limit, per seconds)``; which routes use which bucket is in ``ROUTES``.
DEFAULT_RATE_LIMITS: dict[str, tuple[int, float]] = {
    "message_create": (5, 5.0),  # per channel
    "message_edit": (5, 5.0),  # per channel
    "message_delete": (5, 1.0),  # per channel
    "webhook_execute": (5, 2.0),  # followups, per interaction token
    "webhook_message": (5, 5.0),  # get/edit/delete webhook messages, per interaction token
    "interaction_callback": (50, 1.0),  # per interaction
    "default": (50, 1.0),  # everything else, per route and major parameter
}

#: The callback (response) types each interaction type may be answered with.
CALLBACK_TYPES: dict[int, frozenset[int]] = {
    2: frozenset({4, 5, 9}),  # application command
    3: frozenset({4, 5, 6, 7, 9}),  # message component
    4: frozenset({8}),  # autocomplete
    5: frozenset({4, 5, 6, 7}),  # modal submit (6 and 7 only from a component's modal)
}

# (method, template, needs bot auth, handler name, bucket, major parameter)
ROUTES: list[tuple[str, str, bool, str, str, str | None]] = [
    ("GET", "/users/@me", True, "_get_me", "default", None),
    ("GET", "/oauth2/applications/@me", True, "_get_application", "default", None),
    ("GET", "/applications/@me", True, "_get_application", "default", None),
    ("GET", "/gateway", False, "_get_gateway", "default", None),
    ("GET", "/gateway/bot", True, "_get_gateway_bot", "default", None),
    ("PUT", "/applications/{application_id}/commands", True, "_put_commands", "default", None),
    ("GET", "/applications/{application_id}/commands", True, "_get_commands", "default", None),
    (
        "PUT",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        True,
        "_put_commands",
        "default",
        "guild_id",
    ),
    (
        "GET",
        "/applications/{application_id}/guilds/{guild_id}/commands",
        True,
        "_get_commands",
        "default",
        "guild_id",
    ),
    (
        "POST",
        "/interactions/{interaction_id}/{token}/callback",
        False,
        "_post_callback",
        "interaction_callback",
        "interaction_id",
    ),
    (
        "POST",
        "/webhooks/{application_id}/{token}",
        False,
        "_post_followup",
        "webhook_execute",
        "token",
    ),
    (
        "GET",
        "/webhooks/{application_id}/{token}/messages/{message_id}",
        False,
        "_get_webhook_message",
        "webhook_message",
        "token",
    ),
    (
        "PATCH",
        "/webhooks/{application_id}/{token}/messages/{message_id}",
        False,
        "_patch_webhook_message",
        "webhook_message",
        "token",
    ),
    (
        "DELETE",
        "/webhooks/{application_id}/{token}/messages/{message_id}",
        False,
        "_delete_webhook_message",
        "webhook_message",
        "token",
    ),
    ("GET", "/channels/{channel_id}", True, "_get_channel", "default", "channel_id"),
    (
        "POST",
        "/channels/{channel_id}/messages",
        True,
        "_post_channel_message",
        "message_create",
        "channel_id",
    ),
    (
        "GET",
        "/channels/{channel_id}/messages",
        True,
        "_get_channel_messages",
        "default",
        "channel_id",
    ),
    (
        "GET",
        "/channels/{channel_id}/messages/{message_id}",
        True,
        "_get_channel_message",
        "default",
        "channel_id",
    ),
    (
        "PATCH",
        "/channels/{channel_id}/messages/{message_id}",
        True,
        "_patch_channel_message",
        "message_edit",
        "channel_id",
    ),
    (
        "DELETE",
        "/channels/{channel_id}/messages/{message_id}",
        True,
        "_delete_channel_message",
        "message_delete",
        "channel_id",
    ),
    ("POST", "/channels/{channel_id}/typing", True, "_post_typing", "default", "channel_id"),
    ("GET", "/guilds/{guild_id}", True, "_get_guild", "default", "guild_id"),
    ("GET", "/guilds/{guild_id}/members/{user_id}", True, "_get_member", "default", "guild_id"),
    ("GET", "/users/{user_id}", True, "_get_user", "default", None),
]


class RestRoutes(MessageStore):
    """Route handlers: ``(RecordedRequest) -> (status, JSON body)`` (mixin of FakeDiscord)."""

    token: str
    callback_window: float
    token_lifetime: float
    nonce_window: float
    commands: dict[str | int, list[dict[str, Any]]]
    command_syncs: dict[str | int, int]
    _by_token: dict[str, InteractionRecord]
    max_guilds_per_session: int
    guilds_per_recommended_shard: int

    @property
    def gateway_url(self) -> str:  # pragma: no cover - provided by FakeDiscord
        raise NotImplementedError

    # ------------------------------------------------------------------ simple routes
    async def _get_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.world.bot_user.to_payload()
        return 200, {**user, "verified": True, "mfa_enabled": False, "flags": 0, "bot": True}

    async def _get_application(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self.world.application_payload()

    async def _get_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, rec: RecordedRequest) -> tuple[int, Any]:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
        # Discord recommends a shard per so many guilds (1000 in its docs), at least one.
        per = self.guilds_per_recommended_shard
        shards = max(1, -(-len(self.world.guilds) // per))
        return 200, {"url": self.gateway_url, "shards": shards, "session_start_limit": limit}

    def _channel(self, rec: RecordedRequest) -> Channel:
        raw = rec.params["channel_id"]
        channel = self.world.find_channel(int(raw)) if raw.isdigit() else None
        if channel is None:
            raise error(UNKNOWN_CHANNEL)
        return channel

    def _guild(self, rec: RecordedRequest) -> Guild:
        raw = rec.params["guild_id"]
        guild = self.world.guilds.get(int(raw)) if raw.isdigit() else None
        if guild is None:
            raise unknown("Guild", 10004)
        return guild

    async def _get_channel(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self._channel(rec).to_payload()

    async def _post_typing(self, rec: RecordedRequest) -> tuple[int, Any]:
        self._channel(rec)
        return 204, None

    async def _get_guild(self, rec: RecordedRequest) -> tuple[int, Any]:
        payload = self._guild(rec).guild_payload(members=[])
        for key in ("members", "channels", "threads", "voice_states", "presences"):
            payload.pop(key)
        return 200, payload

    async def _get_member(self, rec: RecordedRequest) -> tuple[int, Any]:
        member = self._guild(rec).members.get(int(rec.params["user_id"]))
        if member is None:
            raise unknown("Member", 10007)
        return 200, member.to_payload()

    async def _get_user(self, rec: RecordedRequest) -> tuple[int, Any]:
        user = self.world.users().get(int(rec.params["user_id"]))
        if user is None:
            raise unknown("User", 10013)
        return 200, user.to_payload()

    # ------------------------------------------------------------------ commands
    def _command_scope(self, rec: RecordedRequest) -> str | int:
        if int(rec.params["application_id"]) != self.world.application_id:
            raise error(MISSING_ACCESS)
        if "guild_id" in rec.params:
            guild = self.world.guilds.get(int(rec.params["guild_id"]))
            if guild is None:
                raise error(MISSING_ACCESS)
            return guild.guild_id
        return "global"

    async def _put_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        scope = self._command_scope(rec)
        check_bulk_commands(rec.json)
        previous = {(c["type"], c["name"]): c for c in self.commands.get(scope, [])}
        stored = []
        for cmd in rec.json:
            kind = cmd.get("type", 1)
            old = previous.get((kind, cmd["name"]))
            entry = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                **cmd,
                "type": kind,
                "id": old["id"] if old else str(self.snowflakes.next()),
                "application_id": str(self.world.application_id),
                "version": str(self.snowflakes.next()),
            }
            if scope != "global":
                entry["guild_id"] = str(scope)
            stored.append(entry)
        self.commands[scope] = stored
        self.command_syncs[scope] = self.command_syncs.get(scope, 0) + 1
        return 200, stored

    async def _get_commands(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self.commands.get(self._command_scope(rec), [])

    # ------------------------------------------------------------------ channel messages
    def _bot_perms(self, channel: Channel) -> int:
        guild = self.world.guild_of(channel)
        return guild.channel_permissions(guild.bot_member, channel)

    def _visible_message(self, channel: Channel, message_id: str) -> StoredMessage:
        message = self.messages.get(int(message_id)) if message_id.isdigit() else None
        if (
            message is None
            or message.channel_id != channel.id
            or message.deleted
            or message.ephemeral
            or message.loading
        ):
            raise error(UNKNOWN_MESSAGE)
        return message

    async def _post_channel_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        channel = self._channel(rec)
        perms = self._bot_perms(channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise error(MISSING_ACCESS)
        if not perms & Perm.SEND_MESSAGES or (rec.files and not perms & Perm.ATTACH_FILES):
            raise error(MISSING_PERMISSIONS)
        payload = dict(rec.json or {})
        nonce = check_nonce(payload)
        enforce = nonce is not None and payload.get("enforce_nonce") is True
        if enforce:
            earlier = self._message_with_nonce(channel.id, str(nonce))
            if earlier is not None:
                # Discord: the earlier message is returned and no new one is created; one
                # deleted meanwhile is answered Unknown Message.
                if earlier.deleted:
                    raise error(UNKNOWN_MESSAGE)
                return 200, {**self.message_payload(earlier), "nonce": earlier.nonce}
        flags = int(payload.get("flags") or 0)
        if flags & FLAG_EPHEMERAL:
            flags &= ~FLAG_EPHEMERAL  # only interaction responses can be ephemeral
        message = self._new_message(
            rec,
            payload,
            channel_id=channel.id,
            kind="channel",
            size_limit=self.world.guild_of(channel).guild_upload_limit,
            flags=flags & SETTABLE_FLAGS,
        )
        message.nonce, message.enforce_nonce = nonce, enforce
        await self._broadcast("MESSAGE_CREATE", message)
        answer = self.message_payload(message)
        if nonce is not None:
            answer["nonce"] = nonce
        return 200, answer

    def _message_with_nonce(self, channel_id: int, nonce: str) -> StoredMessage | None:
        """Return the bot's message created here with this nonce within ``nonce_window``."""
        since = self.now() - self.nonce_window
        for message in reversed(self.messages.values()):
            if message.created < since:
                break
            if (
                message.channel_id == channel_id
                and message.nonce is not None
                and str(message.nonce) == nonce
                and int(message.author["id"]) == self.world.bot_user.id
            ):
                return message
        return None

    async def _get_channel_messages(self, rec: RecordedRequest) -> tuple[int, Any]:
        """List messages newest first (``limit`` 1-100, one of ``before``/``after``/``around``).

        Discord: VIEW_CHANNEL is required (else 50001 Missing Access); without
        READ_MESSAGE_HISTORY the answer is an empty list.
        """
        channel = self._channel(rec)
        perms = self._bot_perms(channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise error(MISSING_ACCESS)
        limit, anchors = check_history_query(rec.query)
        if not perms & Perm.READ_MESSAGE_HISTORY:
            return 200, []
        found = sorted(
            (
                m
                for m in self.messages.values()
                if m.channel_id == channel.id and not (m.deleted or m.ephemeral or m.loading)
            ),
            key=lambda m: m.id,
        )
        if "before" in anchors:
            older = [m for m in found if m.id < anchors["before"]]
            page = older[-limit:]
        elif "after" in anchors:
            page = [m for m in found if m.id > anchors["after"]][:limit]
        elif "around" in anchors:
            pivot = anchors["around"]
            newer = [m for m in found if m.id >= pivot][: (limit + 1) // 2]
            older = [m for m in found if m.id < pivot]
            take = limit - len(newer)
            page = (older[-take:] if take else []) + newer
        else:
            page = found[-limit:]
        return 200, [self.message_payload(m) for m in reversed(page)]

    async def _get_channel_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        message = self._visible_message(self._channel(rec), rec.params["message_id"])
        return 200, self.message_payload(message)

    async def _patch_channel_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        channel = self._channel(rec)
        message = self._visible_message(channel, rec.params["message_id"])
        if int(message.author["id"]) != self.world.bot_user.id:
            raise error(CANNOT_EDIT_OTHERS)
        limit = self.world.guild_of(channel).guild_upload_limit
        self._edit(rec, message, dict(rec.json or {}), limit)
        await self._broadcast("MESSAGE_UPDATE", message)
        return 200, self.message_payload(message)

    async def _delete_channel_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        channel = self._channel(rec)
        message = self._visible_message(channel, rec.params["message_id"])
        is_own = int(message.author["id"]) == self.world.bot_user.id
        if not is_own and not self._bot_perms(channel) & Perm.MANAGE_MESSAGES:
            raise error(MISSING_PERMISSIONS)
        message.deleted = True
        await self._broadcast("MESSAGE_DELETE", message)
        return 204, None

    # ------------------------------------------------------------------ interactions
    async def _post_callback(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self.interactions.get(int(rec.params["interaction_id"]))
        if inter is None or inter.token != rec.params["token"]:
            raise error(UNKNOWN_INTERACTION)
        if self.now() - inter.created > self.callback_window:
            raise error(UNKNOWN_INTERACTION)
        if inter.acknowledged:
            raise error(ALREADY_ACKNOWLEDGED)
        body = rec.json if isinstance(rec.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        allowed = CALLBACK_TYPES.get(inter.type, frozenset())
        if inter.type == 5 and inter.source_message_id is None:
            allowed = frozenset({4, 5})
        if rtype not in allowed:
            raise DiscordError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "type": {
                        "_errors": [
                            {
                                "code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                "message": f"Interaction response type {rtype} is not valid here",
                            }
                        ]
                    }
                },
            )
        resource: dict[str, Any] | None = None
        message: StoredMessage | None = None
        channel_id = inter.channel_id
        if rtype == 4:
            message = self._new_message(
                rec,
                data,
                channel_id=channel_id,
                kind="original",
                size_limit=inter.attachment_size_limit,
                interaction=inter,
            )
            inter.original_message_id = message.id
            resource = {"type": 4, "message": self.message_payload(message)}
        elif rtype == 5:
            flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            message = self._new_message(
                rec,
                {},
                channel_id=channel_id,
                kind="original",
                size_limit=inter.attachment_size_limit,
                interaction=inter,
                flags=flags,
            )
            inter.original_message_id = message.id
            resource = {"type": 5, "message": self.message_payload(message)}
        elif rtype == 6:
            inter.original_message_id = inter.source_message_id
        elif rtype == 7:
            assert inter.source_message_id is not None
            message = self.messages[inter.source_message_id]
            self._edit(rec, message, data, inter.attachment_size_limit)
            inter.original_message_id = message.id
            resource = {"type": 7, "message": self.message_payload(message)}
        elif rtype == 9:
            check_modal(data)
            inter.modal = data
        elif rtype == 8:
            errors = FormErrors()
            errors.max_len(("data", "choices"), data.get("choices") or [], 25)
            errors.raise_if_any()
        inter.response_type = rtype
        if rtype in (4, 7) and message is not None:
            await self._broadcast("MESSAGE_CREATE" if rtype == 4 else "MESSAGE_UPDATE", message)
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return 204, None
        info: dict[str, Any] = {"id": str(inter.id), "type": inter.type}
        if inter.original_message_id is not None and rtype in (4, 5, 6, 7):
            original = self.messages[inter.original_message_id]
            info.update(
                response_message_id=str(original.id),
                response_message_loading=original.loading,
                response_message_ephemeral=original.ephemeral,
            )
        answer: dict[str, Any] = {"interaction": info}
        if resource is not None:
            answer["resource"] = resource
        return 200, answer

    def _interaction_for_token(self, rec: RecordedRequest) -> InteractionRecord:
        if rec.params["application_id"] != str(self.world.application_id):
            raise error(UNKNOWN_WEBHOOK)
        inter = self._by_token.get(rec.params["token"])
        if inter is None or self.now() - inter.created > self.token_lifetime:
            raise error(INVALID_WEBHOOK_TOKEN)
        if not inter.acknowledged:
            # The interaction webhook only exists once the interaction was acknowledged.
            raise error(UNKNOWN_WEBHOOK)
        return inter

    def _webhook_message(self, inter: InteractionRecord, message_id: str) -> StoredMessage:
        if message_id == "@original":
            target = inter.original_message_id
        elif message_id.isdigit() and (
            int(message_id) in inter.followup_ids or int(message_id) == inter.original_message_id
        ):
            target = int(message_id)
        else:
            target = None
        message = self.messages.get(target) if target is not None else None
        if message is None or message.deleted:
            raise error(UNKNOWN_MESSAGE)
        return message

    async def _post_followup(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._interaction_for_token(rec)
        payload = dict(rec.json or {})
        original = self.messages.get(inter.original_message_id or 0)
        if original is not None and original.loading and not original.deleted:
            # Discord: a followup sent while the deferred response is still loading resolves
            # it (and keeps the deferral's ephemerality).
            payload.pop("flags", None)
            message = self._edit(rec, original, payload, inter.attachment_size_limit)
            await self._broadcast("MESSAGE_CREATE", message)
        else:
            message = self._new_message(
                rec,
                payload,
                channel_id=inter.channel_id,
                kind="followup",
                size_limit=inter.attachment_size_limit,
                interaction=inter,
            )
            await self._broadcast("MESSAGE_CREATE", message)
        inter.followup_ids.append(message.id)
        if rec.query.get("wait") in ("0", "false", "False"):
            return 204, None
        return 200, self.message_payload(message)

    async def _get_webhook_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._interaction_for_token(rec)
        return 200, self.message_payload(self._webhook_message(inter, rec.params["message_id"]))

    async def _patch_webhook_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._interaction_for_token(rec)
        message = self._webhook_message(inter, rec.params["message_id"])
        was_loading = message.loading
        self._edit(rec, message, dict(rec.json or {}), inter.attachment_size_limit)
        await self._broadcast("MESSAGE_CREATE" if was_loading else "MESSAGE_UPDATE", message)
        return 200, self.message_payload(message)

    async def _delete_webhook_message(self, rec: RecordedRequest) -> tuple[int, Any]:
        inter = self._interaction_for_token(rec)
        message = self._webhook_message(inter, rec.params["message_id"])
        message.deleted = True
        await self._broadcast("MESSAGE_DELETE", message)
        return 204, None
