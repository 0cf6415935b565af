"""What the Discord stand-in records: requests, messages, attachments and interactions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imagine_standins.discord.rules import FLAG_EPHEMERAL, FLAG_LOADING
from imagine_standins.discord.wire import loads
from imagine_standins.discord.world import iso


@dataclass
class Part:
    """One part of a multipart/form-data body."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        """Return the part decoded as UTF-8."""
        return self.data.decode()

    def json(self) -> Any:
        """Return the part parsed as JSON."""
        return loads(self.data)


@dataclass
class RecordedRequest:
    """One REST request as the stand-in received and answered it."""

    seq: int
    method: str
    #: The route template, e.g. ``"/channels/{channel_id}/messages"`` (None when unknown).
    route: str | None
    path: str
    params: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    time: float
    #: The parsed JSON body (or the ``payload_json`` part of a multipart body).
    json: Any = None
    parts: list[Part] = field(default_factory=list)
    multipart: bool = False
    #: The status the stand-in answers with, known once the request was handled (before
    #: the answer is sent; ``on_request(..., when="before")`` predicates can read it).
    outcome: int | None = None
    #: The status sent (None until the answer went out).
    status: int | None = None
    response: Any = None

    @property
    def key(self) -> str:
        """Return ``"METHOD /route/template"``."""
        return f"{self.method} {self.route}"

    @property
    def files(self) -> list[Part]:
        """Return the uploaded file parts."""
        return [p for p in self.parts if p.filename is not None]

    @property
    def done(self) -> bool:
        """Return True once the answer was sent."""
        return self.status is not None


@dataclass
class StoredAttachment:
    """An uploaded file, served back at ``url``."""

    id: int
    filename: str
    size: int
    content_type: str | None
    data: bytes
    url: str
    description: str | None = None
    width: int | None = None
    height: int | None = None
    #: A file attached to a slash-command option (cdn.py), not to a message.
    ephemeral: bool = False

    def to_payload(self) -> dict[str, Any]:
        """Return the attachment object."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url,
            "content_type": self.content_type,
            "flags": 0,
        }
        if self.description is not None:
            payload["description"] = self.description
        if self.width is not None:
            payload["width"], payload["height"] = self.width, self.height
        if self.ephemeral:
            payload["ephemeral"] = True
        return payload


@dataclass
class StoredMessage:
    """A message as Discord stores it, plus what the tests want to know about it."""

    id: int
    channel_id: int
    guild_id: int
    author: dict[str, Any]
    created: float
    #: ``"channel"`` (bot REST), ``"original"`` (interaction response) or ``"followup"``.
    kind: str
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[StoredAttachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    #: Users this message notified (content mentions filtered by allowed_mentions/permissions).
    pinged_user_ids: set[int] = field(default_factory=set)
    mention_user_ids: list[int] = field(default_factory=list)
    mention_role_ids: list[int] = field(default_factory=list)
    mention_everyone: bool = False
    interaction_id: int | None = None
    webhook_id: int | None = None
    #: The ``nonce`` the message was created with (echoed only in the create answer and
    #: MESSAGE_CREATE, as Discord does), and whether ``enforce_nonce`` was set.
    nonce: int | str | None = None
    enforce_nonce: bool = False
    edited: float | None = None
    deleted: bool = False
    edits: int = 0

    @property
    def ephemeral(self) -> bool:
        """Return True for an ephemeral message."""
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        """Return True while this is a deferred 'thinking…' placeholder."""
        return bool(self.flags & FLAG_LOADING)

    @property
    def custom_ids(self) -> list[str]:
        """Return every custom_id in the message's components."""
        found: list[str] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                if item.get("custom_id"):
                    found.append(item["custom_id"])
                walk(item.get("components") or [])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found

    def find_component(self, custom_id: str) -> dict[str, Any] | None:
        """Return the component with this custom_id."""

        def walk(items: list[dict[str, Any]]) -> dict[str, Any] | None:
            for item in items:
                if item.get("custom_id") == custom_id:
                    return item
                found = walk(item.get("components") or [])
                if found is None and isinstance(item.get("accessory"), dict):
                    found = walk([item["accessory"]])
                if found is not None:
                    return found
            return None

        return walk(self.components)

    def to_payload(self, users: dict[int, dict[str, Any]]) -> dict[str, Any]:
        """Return the message object (``users`` maps ids to user objects for ``mentions``)."""
        payload: dict[str, Any] = {
            "id": str(self.id),
            "type": 20 if self.interaction_id is not None else 0,
            "channel_id": str(self.channel_id),
            "author": self.author,
            "content": self.content,
            "timestamp": iso(self.created),
            "edited_timestamp": iso(self.edited) if self.edited else None,
            "tts": False,
            "mention_everyone": self.mention_everyone,
            "mentions": [users[u] for u in self.mention_user_ids if u in users],
            "mention_roles": [str(r) for r in self.mention_role_ids],
            "attachments": [a.to_payload() for a in self.attachments],
            "embeds": self.embeds,
            "components": self.components,
            "pinned": False,
            "flags": self.flags,
        }
        if self.webhook_id is not None:
            payload["webhook_id"] = str(self.webhook_id)
            payload["application_id"] = str(self.webhook_id)
        if self.message_reference is not None:
            payload["message_reference"] = self.message_reference
        return payload


@dataclass
class InteractionRecord:
    """An interaction the stand-in dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    created: float
    member_id: int
    channel_id: int
    attachment_size_limit: int
    #: The callback type the bot answered with (None until acknowledged).
    response_type: int | None = None
    original_message_id: int | None = None
    #: Message ids returned by followup POSTs (the original's id when a followup resolved
    #: the deferred 'thinking…' state, as Discord does).
    followup_ids: list[int] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    #: For component interactions: the message that carries the component.
    source_message_id: int | None = None

    @property
    def acknowledged(self) -> bool:
        """Return True once a callback was accepted."""
        return self.response_type is not None

    @property
    def data(self) -> dict[str, Any]:
        """Return the interaction's ``data`` object."""
        return self.payload["data"]


@dataclass
class Injected429:
    """A 429 the tests asked for."""

    predicate: Any
    retry_after: float
    global_: bool
    remaining: int
