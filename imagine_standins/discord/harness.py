"""Test-side helpers of the Discord stand-in: inject interactions, read and await records.

The waits take ``timeout`` seconds like ``asyncio.wait_for`` (hence the ASYNC109 waiver).

Mixed into ``FakeDiscord``; everything here acts like a Discord *client* (a member clicking,
typing a command, submitting a modal) or like a test reading what the bot did.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from imagine_standins.discord.cdn import Cdn, Upload
from imagine_standins.discord.command_rules import DISCORD_LOCALES
from imagine_standins.discord.records import InteractionRecord, RecordedRequest, StoredMessage
from imagine_standins.discord.rules import SELECT_TYPES, modal_inputs
from imagine_standins.discord.world import Channel, Member, Role, User

if TYPE_CHECKING:
    from imagine_standins.discord.gateway import Gateway
    from imagine_standins.discord.world import Snowflakes, World

T = TypeVar("T")

OPTION_USER, OPTION_CHANNEL, OPTION_ROLE, OPTION_MENTIONABLE = 6, 7, 8, 9
OPTION_ATTACHMENT = 11


class Harness:
    """Interaction injection, accessors and condition waits (mixin of FakeDiscord)."""

    world: World
    gateway: Gateway
    snowflakes: Snowflakes
    attachment_size_limit: int
    requests: list[RecordedRequest]
    messages: dict[int, StoredMessage]
    interactions: dict[int, InteractionRecord]
    _by_token: dict[str, InteractionRecord]
    commands: dict[str | int, list[dict[str, Any]]]
    _waiters: list[asyncio.Future[None]]
    cdn: Cdn

    def now(self) -> float:  # pragma: no cover - provided by FakeDiscord
        raise NotImplementedError

    def _notify(self) -> None:  # pragma: no cover - provided by FakeDiscord
        raise NotImplementedError

    def message_payload(self, message: StoredMessage) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ waiting
    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Return ``predicate()``'s first truthy value, re-checked whenever something happens.

        "Something" is a request arriving or being answered, or a gateway frame. Never polls.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{r.key} -> {r.status}" for r in self.requests[-8:]]
                raise TimeoutError(
                    f"condition not met within {timeout}s; recent requests: {recent}"
                )
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                continue

    async def wait_for_request(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """Return the first answered request matching ``predicate``."""

        def find() -> RecordedRequest | None:
            return next((r for r in self.requests if r.done and predicate(r)), None)

        return await self.wait_for(find, timeout)

    async def wait_for_message(
        self,
        predicate: Callable[[StoredMessage], bool],
        timeout: float = 5.0,
    ) -> StoredMessage:
        """Return the first stored message matching ``predicate``."""

        def find() -> StoredMessage | None:
            return next((m for m in self.messages.values() if predicate(m)), None)

        return await self.wait_for(find, timeout)

    async def wait_identified(self, timeout: float = 5.0) -> None:
        """Wait until a client identified (READY and GUILD_CREATE were sent)."""
        await asyncio.wait_for(self.gateway.identified.wait(), timeout)

    async def wait_for_callback(
        self,
        interaction: InteractionRecord,
        timeout: float = 5.0,
    ) -> RecordedRequest:
        """Return the first answered callback request of ``interaction``."""

        def find() -> RecordedRequest | None:
            return next(iter(self.callbacks_for(interaction)), None)

        return await self.wait_for(find, timeout)

    async def wait_for_followup(
        self,
        interaction: InteractionRecord,
        count: int = 1,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """Return the ``count``-th followup message of ``interaction``."""

        def find() -> StoredMessage | None:
            followups = self.followups_for(interaction)
            return followups[count - 1] if len(followups) >= count else None

        return await self.wait_for(find, timeout)

    # ------------------------------------------------------------------ accessors
    def requests_to(self, key: str) -> list[RecordedRequest]:
        """Return answered requests whose ``"METHOD /template"`` equals ``key``."""
        return [r for r in self.requests if r.done and r.key == key]

    def messages_in(
        self,
        channel_id: int | Channel,
        *,
        include_ephemeral: bool = True,
        include_deleted: bool = False,
    ) -> list[StoredMessage]:
        """Return the channel's messages, oldest first."""
        cid = channel_id.id if isinstance(channel_id, Channel) else int(channel_id)
        return [
            m
            for m in self.messages.values()
            if m.channel_id == cid
            and (include_ephemeral or not m.ephemeral)
            and (include_deleted or not m.deleted)
        ]

    @property
    def last_message(self) -> StoredMessage | None:
        """Return the most recently created message (None if there is none)."""
        return next(reversed(self.messages.values()), None)

    def callbacks_for(self, interaction: InteractionRecord) -> list[RecordedRequest]:
        """Return the answered callback requests for ``interaction`` (refused ones included)."""
        return [
            r
            for r in self.requests
            if r.done
            and r.route == "/interactions/{interaction_id}/{token}/callback"
            and r.params.get("interaction_id") == str(interaction.id)
        ]

    def followups_for(self, interaction: InteractionRecord) -> list[StoredMessage]:
        """Return the messages created (or resolved) by followup POSTs."""
        return [self.messages[i] for i in interaction.followup_ids]

    def original_for(self, interaction: InteractionRecord) -> StoredMessage | None:
        """Return the interaction's original response message."""
        if interaction.original_message_id is None:
            return None
        return self.messages.get(interaction.original_message_id)

    def requests_for(self, interaction: InteractionRecord) -> list[RecordedRequest]:
        """Return every answered request that used the interaction's id or token."""
        return [
            r
            for r in self.requests
            if r.done
            and (
                r.params.get("token") == interaction.token
                or r.params.get("interaction_id") == str(interaction.id)
            )
        ]

    # ------------------------------------------------------------------ interactions
    async def send_slash_command(
        self,
        member: Member,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        channel: Channel | None = None,
        attachment_size_limit: int | None = None,
        locale: str | None = None,
        strict: bool = True,
    ) -> InteractionRecord:
        """Dispatch a CHAT_INPUT interaction as if ``member`` ran ``/name`` with ``options``.

        ``name`` may hold a subcommand path: ``"imagine-admin channel enable"``. Option types
        come from the synced definition (guild first, then global) when there is one, else
        from the Python values (str, int, float, bool, Member/User, Role, Channel, and an
        ``Upload`` for an attachment, which arrives in ``resolved.attachments``). With
        ``strict``, options the client could not send (unknown names, missing required ones,
        values outside choices/ranges) raise ValueError. ``locale`` is the client's language
        (default: the member's ``user.locale``), sent as the interaction's ``locale``.
        """
        root, *path = name.split()
        channel = channel or self.world.guilds[member.guild_id].channel
        definition = self._find_command(root, 1, channel.guild_id)
        resolved: dict[str, dict[str, Any]] = {}
        defs = definition.get("options") if definition is not None else None
        nodes: list[tuple[str, int]] = []
        for step in path:
            sub = self._option_def(defs, step) if defs is not None else None
            if defs is not None and sub is None and strict:
                raise ValueError(f"/{root} has no subcommand {step!r}")
            kind = sub["type"] if sub is not None else (1 if step == path[-1] else 2)
            nodes.append((step, kind))
            defs = sub.get("options") or [] if sub is not None else None
        built = self._option_payloads(
            defs, options or {}, member, channel, resolved, strict=strict, where=name
        )
        for step, kind in reversed(nodes):
            built = [{"type": kind, "name": step, "options": built}]
        data: dict[str, Any] = {
            "id": definition["id"] if definition is not None else str(self.snowflakes.next()),
            "name": root,
            "type": 1,
            "options": built,
        }
        if definition is not None and definition.get("guild_id"):
            data["guild_id"] = definition["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._dispatch_interaction(
            2, data, member, channel, attachment_size_limit=attachment_size_limit, locale=locale
        )

    async def click_button(
        self,
        message: StoredMessage | int,
        custom_id: str,
        member: Member,
        *,
        attachment_size_limit: int | None = None,
    ) -> InteractionRecord:
        """Dispatch a MESSAGE_COMPONENT interaction: ``member`` clicks a button on ``message``."""
        msg, component = self._component(message, custom_id, member)
        if component.get("type") != 2:
            raise ValueError(f"{custom_id!r} is not a button")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._component_interaction(msg, data, member, attachment_size_limit)

    async def select_option(
        self,
        message: StoredMessage | int,
        custom_id: str,
        values: list[str],
        member: Member,
    ) -> InteractionRecord:
        """Dispatch a MESSAGE_COMPONENT interaction: ``member`` picks ``values`` in a select."""
        msg, component = self._component(message, custom_id, member)
        if component.get("type") not in SELECT_TYPES:
            raise ValueError(f"{custom_id!r} is not a select menu")
        low, high = component.get("min_values", 1), component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise ValueError(f"select {custom_id!r} takes {low}..{high} values")
        if component["type"] == 3:
            allowed = {o["value"] for o in component.get("options") or []}
            if not set(values) <= allowed:
                raise ValueError(f"{values} are not all options of {custom_id!r}")
        data = {"custom_id": custom_id, "component_type": component["type"], "values": values}
        return await self._component_interaction(msg, data, member, None)

    async def submit_modal(
        self,
        source: InteractionRecord | StoredMessage,
        custom_id: str | None = None,
        values: dict[str, str] | None = None,
        member: Member | None = None,
    ) -> InteractionRecord:
        """Dispatch a MODAL_SUBMIT for the modal the bot opened in answer to ``source``.

        ``source`` is the interaction answered with a modal (or the message whose component
        opened it). ``custom_id`` defaults to the modal's; ``values`` maps text-input
        custom_ids to what the member typed (prefilled values are kept otherwise).
        """
        if isinstance(source, StoredMessage):
            candidates = [
                i
                for i in self.interactions.values()
                if i.source_message_id == source.id and i.modal is not None
            ]
            if not candidates:
                raise ValueError(f"no modal was opened from message {source.id}")
            source = candidates[-1]
        modal = source.modal
        if modal is None:
            raise ValueError(f"interaction {source.id} was not answered with a modal")
        custom_id = custom_id or modal["custom_id"]
        if custom_id != modal["custom_id"]:
            raise ValueError(f"the open modal is {modal['custom_id']!r}, not {custom_id!r}")
        values = dict(values or {})
        inputs = modal_inputs(modal)
        unknown = set(values) - {cid for cid, _ in inputs}
        if unknown:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(unknown)}")
        components = []
        for row in modal.get("components") or []:
            if row.get("type") == 1:
                comp = row["components"][0]
                components.append({"type": 1, "components": [self._modal_value(comp, values)]})
            elif row.get("type") == 18:
                components.append(
                    {"type": 18, "component": self._modal_value(row["component"], values)}
                )
        channel = self._channel_by_id(source.channel_id)
        member = member or self.world.guild_of(channel).members[source.member_id]
        message = self.messages.get(source.source_message_id or 0)
        return await self._dispatch_interaction(
            5,
            {"custom_id": custom_id, "components": components},
            member,
            channel,
            message=message,
        )

    # ------------------------------------------------------------------ internals
    def _channel_by_id(self, channel_id: int) -> Channel:
        channel = self.world.find_channel(channel_id)
        if channel is None:
            raise KeyError(f"no channel {channel_id} in any guild")
        return channel

    def _find_command(self, name: str, kind: int, guild_id: int) -> dict[str, Any] | None:
        for scope in (guild_id, "global"):
            for cmd in self.commands.get(scope, []):
                if cmd["name"] == name and cmd.get("type", 1) == kind:
                    return cmd
        return None

    @staticmethod
    def _option_def(defs: list[dict[str, Any]] | None, name: str) -> dict[str, Any] | None:
        return next((d for d in defs or [] if d["name"] == name), None)

    @staticmethod
    def _infer_type(value: Any) -> int:
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        if isinstance(value, Member | User):
            return OPTION_USER
        if isinstance(value, Role):
            return OPTION_ROLE
        if isinstance(value, Channel):
            return OPTION_CHANNEL
        if isinstance(value, Upload):
            return OPTION_ATTACHMENT
        return 3

    def _option_payloads(
        self,
        defs: list[dict[str, Any]] | None,
        values: dict[str, Any],
        member: Member,
        channel: Channel,
        resolved: dict[str, dict[str, Any]],
        *,
        strict: bool,
        where: str,
    ) -> list[dict[str, Any]]:
        out = []
        for name, value in values.items():
            d = self._option_def(defs, name)
            if defs is not None and d is None and strict:
                raise ValueError(f"/{where} has no option {name!r}")
            kind = d["type"] if d is not None else self._infer_type(value)
            if d is not None and strict:
                self._check_option_value(d, value, where)
            if kind == OPTION_ATTACHMENT and isinstance(value, Upload):
                # The client uploads the file first; the option's value is its id.
                stored = self.cdn.attach(self.snowflakes.next(), channel.id, value)
                resolved.setdefault("attachments", {})[str(stored.id)] = stored.to_payload()
                value = str(stored.id)
            out.append(
                {"name": name, "type": kind, "value": self._resolve(kind, value, member, resolved)}
            )
        if strict and defs is not None:
            missing = [d["name"] for d in defs if d.get("required") and d["name"] not in values]
            if missing:
                raise ValueError(f"/{where} needs {missing}")
        return out

    @staticmethod
    def _check_option_value(d: dict[str, Any], value: Any, where: str) -> None:
        choices = d.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise ValueError(f"/{where} {d['name']}={value!r} is not one of its choices")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if d.get("min_value") is not None and value < d["min_value"]:
                raise ValueError(f"/{where} {d['name']}={value!r} is below min_value")
            if d.get("max_value") is not None and value > d["max_value"]:
                raise ValueError(f"/{where} {d['name']}={value!r} is above max_value")
        if isinstance(value, str):
            if d.get("min_length") is not None and len(value) < d["min_length"]:
                raise ValueError(f"/{where} {d['name']} is shorter than min_length")
            if d.get("max_length") is not None and len(value) > d["max_length"]:
                raise ValueError(f"/{where} {d['name']} is longer than max_length")

    def _resolve(
        self, kind: int, value: Any, member: Member, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        world = self.world.guilds[member.guild_id]  # options resolve within the member's guild
        if kind in (OPTION_USER, OPTION_MENTIONABLE) and isinstance(value, Member | User | int):
            uid = value if isinstance(value, int) else value.id
            if uid in world.members:
                target = world.members[uid]
                resolved.setdefault("users", {})[str(uid)] = target.user.to_payload()
                entry = target.to_payload(with_user=False)
                entry["permissions"] = str(world.base_permissions(target))
                resolved.setdefault("members", {})[str(uid)] = entry
                return str(uid)
        if kind in (OPTION_ROLE, OPTION_MENTIONABLE) and isinstance(value, Role | int):
            rid = value if isinstance(value, int) else value.id
            if rid in world.roles:
                resolved.setdefault("roles", {})[str(rid)] = world.roles[rid].to_payload()
                return str(rid)
        if kind == OPTION_CHANNEL and isinstance(value, Channel | int):
            cid = value if isinstance(value, int) else value.id
            target_channel = world.channels[cid]
            perms = world.channel_permissions(member, target_channel)
            payload = world.interaction_channel_payload(target_channel, perms)
            resolved.setdefault("channels", {})[str(cid)] = payload
            return str(cid)
        return value

    def _component(
        self, message: StoredMessage | int, custom_id: str, member: Member
    ) -> tuple[StoredMessage, dict[str, Any]]:
        msg = message if isinstance(message, StoredMessage) else self.messages[int(message)]
        msg = self.messages.get(msg.id, msg)
        if msg.deleted:
            raise ValueError(f"message {msg.id} was deleted")
        component = msg.find_component(custom_id)
        if component is None:
            raise ValueError(f"message {msg.id} has no component {custom_id!r}: {msg.custom_ids}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        if msg.ephemeral and msg.interaction_id is not None:
            owner = self.interactions[msg.interaction_id].member_id
            if owner != member.id:
                raise ValueError(
                    "only the invoking member can see (and click) an ephemeral message"
                )
        return msg, component

    async def _component_interaction(
        self,
        msg: StoredMessage,
        data: dict[str, Any],
        member: Member,
        attachment_size_limit: int | None,
    ) -> InteractionRecord:
        channel = self._channel_by_id(msg.channel_id)
        return await self._dispatch_interaction(
            3,
            data,
            member,
            channel,
            message=msg,
            attachment_size_limit=attachment_size_limit,
        )

    @staticmethod
    def _modal_value(comp: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        custom_id = comp["custom_id"]
        value = values.get(custom_id, comp.get("value") or "")
        if comp.get("type") == 4:
            if comp.get("required", True) and not value:
                raise ValueError(f"text input {custom_id!r} is required")
            if value and comp.get("min_length") is not None and len(value) < comp["min_length"]:
                raise ValueError(f"text input {custom_id!r} is shorter than {comp['min_length']}")
            if comp.get("max_length") is not None and len(value) > comp["max_length"]:
                raise ValueError(f"text input {custom_id!r} is longer than {comp['max_length']}")
            return {"type": 4, "custom_id": custom_id, "value": value}
        # A select the member left alone sends the options marked default, as Discord does.
        defaults = [o["value"] for o in comp.get("options") or [] if o.get("default")]
        picked = values.get(custom_id, defaults)
        return {"type": comp["type"], "custom_id": custom_id, "values": picked}

    async def _dispatch_interaction(
        self,
        itype: int,
        data: dict[str, Any],
        member: Member,
        channel: Channel,
        *,
        message: StoredMessage | None = None,
        attachment_size_limit: int | None = None,
        locale: str | None = None,
    ) -> InteractionRecord:
        if not self.gateway.active:
            raise RuntimeError("no identified gateway session: start the bot and wait_identified()")
        world = self.world.guild_of(channel)
        if member.guild_id != world.guild_id:
            raise ValueError(
                f"{member.user.username} of guild {member.guild_id} is not in {channel}"
            )
        # As Discord: the member's client language, and the server's preferred one.
        locale = member.user.locale if locale is None else locale
        for value in (locale, world.preferred_locale):
            if value not in DISCORD_LOCALES:
                raise ValueError(f"{value!r} is not a locale Discord sends")
        interaction_id = self.snowflakes.next()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        limit = (
            self.attachment_size_limit if attachment_size_limit is None else attachment_size_limit
        )
        member_perms = world.channel_permissions(member, channel)
        member_payload = member.to_payload()
        member_payload["permissions"] = str(member_perms)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.world.application_id),
            "type": itype,
            "data": data,
            "guild_id": str(world.guild_id),
            "guild": {"id": str(world.guild_id), "locale": world.preferred_locale, "features": []},
            "channel_id": str(channel.id),
            "channel": world.interaction_channel_payload(channel, member_perms),
            "member": member_payload,
            "token": token,
            "version": 1,
            "app_permissions": str(world.channel_permissions(world.bot_member, channel)),
            "locale": locale,
            "guild_locale": world.preferred_locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(world.guild_id)},
            "context": 0,
            "attachment_size_limit": limit,
        }
        if message is not None:
            payload["message"] = self.message_payload(message)
        record = InteractionRecord(
            id=interaction_id,
            token=token,
            type=itype,
            payload=payload,
            created=self.now(),
            member_id=member.id,
            channel_id=channel.id,
            attachment_size_limit=limit,
            source_message_id=message.id if message is not None else None,
        )
        self.interactions[interaction_id] = record
        self._by_token[token] = record
        # Only the session of the guild's shard hears it (none connected: nobody answers).
        await self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=world.guild_id)
        self._notify()
        return record
