"""What Discord refuses, with the status, code and error tree it refuses it with.

Error body shape (as Discord sends it)::

    {"message": "Invalid Form Body", "code": 50035,
     "errors": {"embeds": {"0": {"title": {"_errors": [
         {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 256 or fewer in length."}]}}}}}

The numeric JSON codes are Discord's documented ones. The string codes inside ``_errors`` are
the ones observed in real responses where known (``BASE_TYPE_MAX_LENGTH``,
``MAX_EMBED_SIZE_EXCEEDED``, ``COMPONENT_CUSTOM_ID_DUPLICATED``,
``APPLICATION_COMMAND_INVALID_NAME``, …) and best guesses otherwise; tests should assert the
numeric code and the path, not the string code.
"""

from __future__ import annotations

import re
from typing import Any

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ATTACHMENTS = 10
MAX_ACTION_ROWS = 5
MAX_ROW_WIDTH = 5
MAX_V2_COMPONENTS = 40
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_COMPONENTS_V2 = 1 << 15

Path = tuple[str | int, ...]


class DiscordError(Exception):
    """An HTTP error answer, shaped like Discord's."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """Return the JSON error body."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


def unknown(what: str, code: int) -> DiscordError:
    """Return a 404 ``Unknown <what>``."""
    return DiscordError(404, code, f"Unknown {what}")


UNAUTHORIZED = (401, 0, "401: Unauthorized")
EMPTY_MESSAGE = (400, 50006, "Cannot send an empty message")
TOO_LARGE = (413, 40005, "Request entity too large")
UNKNOWN_INTERACTION = (404, 10062, "Unknown interaction")
ALREADY_ACKNOWLEDGED = (400, 40060, "Interaction has already been acknowledged")
INVALID_WEBHOOK_TOKEN = (401, 50027, "Invalid Webhook Token")
UNKNOWN_WEBHOOK = (404, 10015, "Unknown Webhook")
UNKNOWN_MESSAGE = (404, 10008, "Unknown Message")
UNKNOWN_CHANNEL = (404, 10003, "Unknown Channel")
MISSING_ACCESS = (403, 50001, "Missing Access")
MISSING_PERMISSIONS = (403, 50013, "Missing Permissions")
CANNOT_EDIT_OTHERS = (403, 50005, "Cannot edit a message authored by another user")


def error(spec: tuple[int, int, str]) -> DiscordError:
    """Build a DiscordError from one of the constants above."""
    return DiscordError(*spec)


class FormErrors:
    """Collects ``_errors`` at paths and raises 400 50035 Invalid Form Body."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: Path, code: str, message: str) -> None:
        """Record an error at ``path``."""
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_len(self, path: Path, value: Any, limit: int) -> None:
        """Refuse a string or list longer than ``limit``."""
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def bad_len(self, path: Path, value: Any, low: int, high: int) -> None:
        """Refuse a string or list whose length is outside ``low..high``."""
        if value is None or not low <= len(value) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: Path, present: bool) -> None:
        """Refuse a missing field."""
        if not present:
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def raise_if_any(self) -> None:
        """Raise 400 50035 when anything was recorded."""
        if self.tree:
            raise DiscordError(400, 50035, "Invalid Form Body", self.tree)

    def __bool__(self) -> bool:
        return bool(self.tree)


# ===================================================================== nonces, history
NONCE_MAX_LENGTH = 25
INT64 = (-(2**63), 2**63 - 1)
HISTORY_ANCHORS = ("around", "before", "after")


def check_nonce(payload: dict[str, Any]) -> int | str | None:
    """Return a message create's ``nonce`` (None if absent), refusing what Discord refuses.

    Discord takes an int64 or a string of at most 25 characters.
    """
    nonce = payload.get("nonce")
    if nonce is None:
        return None
    errors = FormErrors()
    if isinstance(nonce, bool) or not isinstance(nonce, int | str):
        errors.add(("nonce",), "NONCE_TYPE_INVALID", "Nonce must be an integer or a string.")
    elif isinstance(nonce, str):
        errors.max_len(("nonce",), nonce, NONCE_MAX_LENGTH)
    elif not INT64[0] <= nonce <= INT64[1]:
        errors.add(("nonce",), "NUMBER_TYPE_MAX", "int value should be less than or equal to 2^63")
    errors.raise_if_any()
    return nonce


def check_history_query(query: dict[str, str]) -> tuple[int, dict[str, int]]:
    """Return ``limit`` (default 50) and the one anchor of a message history request.

    Discord: ``limit`` is 1-100; ``around``, ``before`` and ``after`` are snowflakes and
    mutually exclusive.
    """
    errors = FormErrors()
    limit = 50
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.lstrip("-").isdigit():
            errors.add(("limit",), "NUMBER_TYPE_COERCE", f'Value "{raw_limit}" is not int.')
        else:
            limit = int(raw_limit)
            if not 1 <= limit <= 100:
                errors.add(
                    ("limit",),
                    "NUMBER_TYPE_MAX" if limit > 100 else "NUMBER_TYPE_MIN",
                    "Must be between 1 and 100.",
                )
    anchors: dict[str, int] = {}
    for name in HISTORY_ANCHORS:
        value = query.get(name)
        if value is None:
            continue
        if not value.isdigit():
            errors.add((name,), "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
        else:
            anchors[name] = int(value)
    if len(anchors) > 1:
        errors.add(
            ("around",),
            "BASE_TYPE_BAD_COMBINATION",
            "Only one of around, before and after may be given.",
        )
    errors.raise_if_any()
    return limit, anchors


# ===================================================================== messages
def embed_size(embed: dict[str, Any]) -> int:
    """Return the characters an embed counts against the 6000 total."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for f in embed.get("fields") or []:
        total += len(f.get("name") or "") + len(f.get("value") or "")
    return total


def check_embeds(errors: FormErrors, embeds: list[dict[str, Any]]) -> None:
    """Apply Discord's embed limits."""
    errors.max_len(("embeds",), embeds, MAX_EMBEDS)
    for i, embed in enumerate(embeds):
        p: Path = ("embeds", i)
        errors.max_len((*p, "title"), embed.get("title"), 256)
        errors.max_len((*p, "description"), embed.get("description"), 4096)
        fields = embed.get("fields") or []
        errors.max_len((*p, "fields"), fields, 25)
        for j, f in enumerate(fields):
            errors.required((*p, "fields", j, "name"), bool(f.get("name")))
            errors.required((*p, "fields", j, "value"), bool(f.get("value")))
            errors.max_len((*p, "fields", j, "name"), f.get("name"), 256)
            errors.max_len((*p, "fields", j, "value"), f.get("value"), 1024)
        footer = embed.get("footer")
        if footer is not None:
            errors.max_len((*p, "footer", "text"), footer.get("text"), 2048)
        author = embed.get("author")
        if author is not None:
            errors.max_len((*p, "author", "name"), author.get("name"), 256)
    if sum(embed_size(e) for e in embeds) > MAX_EMBED_TOTAL:
        errors.add(
            ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
        )


SELECT_TYPES = {3, 5, 6, 7, 8}


def check_custom_id(errors: FormErrors, path: Path, custom_id: Any, seen: set[str]) -> None:
    """Require a 1–100 character custom_id that is unique within the payload."""
    if custom_id is None:
        errors.required((*path, "custom_id"), False)
        return
    errors.bad_len((*path, "custom_id"), custom_id, 1, 100)
    if custom_id in seen:
        errors.add(
            (*path, "custom_id"),
            "COMPONENT_CUSTOM_ID_DUPLICATED",
            "Component custom id was already specified",
        )
    seen.add(custom_id)


def check_button(errors: FormErrors, path: Path, button: dict[str, Any], seen: set[str]) -> None:
    """Apply the button rules (link buttons: url, no custom_id; others: custom_id)."""
    style = button.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        errors.add(
            (*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4, 5, 6)."
        )
        return
    errors.max_len((*path, "label"), button.get("label"), 80)
    if style == 5:
        if not button.get("url"):
            errors.add((*path, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
        else:
            errors.max_len((*path, "url"), button["url"], 512)
        if button.get("custom_id") is not None:
            errors.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_LINK_HAS_CUSTOM_ID",
                "A custom id cannot be specified for a link button",
            )
    elif style == 6:
        errors.required((*path, "sku_id"), bool(button.get("sku_id")))
    else:
        if button.get("url") is not None:
            errors.add(
                (*path, "url"),
                "BUTTON_COMPONENT_URL_NOT_ALLOWED",
                "A url can only be specified for a link button",
            )
        check_custom_id(errors, path, button.get("custom_id"), seen)
    if style != 6 and not button.get("label") and not button.get("emoji"):
        errors.add(
            (*path, "label"),
            "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED",
            "A label or emoji is required",
        )


def check_select(errors: FormErrors, path: Path, select: dict[str, Any], seen: set[str]) -> None:
    """Apply the select menu rules."""
    check_custom_id(errors, path, select.get("custom_id"), seen)
    errors.max_len((*path, "placeholder"), select.get("placeholder"), 150)
    low, high = select.get("min_values", 1), select.get("max_values", 1)
    if not 0 <= low <= 25:
        errors.add((*path, "min_values"), "NUMBER_TYPE_MAX", "int value should be <= 25.")
    if not 1 <= high <= 25:
        errors.add((*path, "max_values"), "NUMBER_TYPE_MAX", "int value should be <= 25.")
    if select.get("type") == 3:
        options = select.get("options") or []
        errors.bad_len((*path, "options"), options, 1, 25)
        for k, opt in enumerate(options):
            errors.bad_len((*path, "options", k, "label"), opt.get("label"), 1, 100)
            errors.bad_len((*path, "options", k, "value"), opt.get("value"), 1, 100)
            errors.max_len((*path, "options", k, "description"), opt.get("description"), 100)


def check_message_components(
    errors: FormErrors, components: list[dict[str, Any]], flags: int
) -> None:
    """Apply the component rules for a message (classic action rows, or Components V2)."""
    seen: set[str] = set()
    if flags & FLAG_COMPONENTS_V2:
        count = 0

        def walk(items: list[dict[str, Any]], path: Path) -> None:
            nonlocal count
            for i, comp in enumerate(items):
                count += 1
                p = (*path, i)
                if comp.get("type") == 2:
                    check_button(errors, p, comp, seen)
                elif comp.get("type") in SELECT_TYPES:
                    check_select(errors, p, comp, seen)
                for key in ("components",):
                    if isinstance(comp.get(key), list):
                        walk(comp[key], (*p, key))
                if isinstance(comp.get("accessory"), dict):
                    walk([comp["accessory"]], (*p, "accessory"))

        walk(components, ("components",))
        if count > MAX_V2_COMPONENTS:
            errors.add(
                ("components",),
                "COMPONENT_MAX_TOTAL_COMPONENTS_EXCEEDED",
                f"Must be {MAX_V2_COMPONENTS} or fewer in total.",
            )
        return

    errors.max_len(("components",), components, MAX_ACTION_ROWS)
    for i, row in enumerate(components):
        path: Path = ("components", i)
        if row.get("type") != 1:
            errors.add(
                (*path, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,).',
            )
            continue
        children = row.get("components") or []
        errors.bad_len((*path, "components"), children, 1, MAX_ROW_WIDTH)
        has_select = any(c.get("type") in SELECT_TYPES for c in children)
        if has_select and len(children) > 1:
            errors.add(
                (*path, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        for j, comp in enumerate(children):
            cpath: Path = (*path, "components", j)
            kind = comp.get("type")
            if kind == 2:
                check_button(errors, cpath, comp, seen)
            elif kind in SELECT_TYPES:
                check_select(errors, cpath, comp, seen)
            else:
                errors.add(
                    (*cpath, "type"),
                    "UNION_TYPE_CHOICES",
                    'Value of field "type" must be one of (2, 3, 5, 6, 7, 8).',
                )


def check_allowed_mentions(errors: FormErrors, allowed: Any) -> None:
    """Apply the allowed_mentions rules (``parse`` excludes explicit lists of the same kind)."""
    if allowed is None:
        return
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        ids = allowed.get(kind)
        if ids and kind in parse:
            errors.add(
                ("allowed_mentions",),
                "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                f'parse:["{kind}"] and {kind}: [ids...] are mutually exclusive.',
            )
        errors.max_len(("allowed_mentions", kind), ids, 100)
    for i, value in enumerate(parse):
        if value not in ("users", "roles", "everyone"):
            errors.add(
                ("allowed_mentions", "parse", i),
                "BASE_TYPE_CHOICES",
                "Value must be one of ('roles', 'users', 'everyone').",
            )


def check_message(
    payload: dict[str, Any],
    *,
    upload_sizes: list[int],
    size_limit: int,
    kept_attachments: int = 0,
) -> None:
    """Refuse a message create/edit body the way Discord does.

    ``upload_sizes`` are the sizes of the files in this request; ``kept_attachments`` counts
    attachments that an edit keeps. Emptiness is checked separately on the resulting message.
    """
    if sum(upload_sizes) > size_limit:
        raise error(TOO_LARGE)
    errors = FormErrors()
    flags = int(payload.get("flags") or 0)
    content = payload.get("content")
    if flags & FLAG_COMPONENTS_V2:
        if content:
            errors.add(
                ("content",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )
        if payload.get("embeds"):
            errors.add(
                ("embeds",),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'embeds' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )
    if content is not None and not isinstance(content, str):
        errors.add(("content",), "BASE_TYPE_STRING", "Must be a string.")
    else:
        errors.max_len(("content",), content, MAX_CONTENT)
    check_embeds(errors, payload.get("embeds") or [])
    attachments = payload.get("attachments") or []
    if len(upload_sizes) > MAX_ATTACHMENTS:
        errors.max_len(("files",), upload_sizes, MAX_ATTACHMENTS)
    if max(len(attachments), len(upload_sizes) + kept_attachments) > MAX_ATTACHMENTS:
        errors.add(
            ("attachments",),
            "BASE_TYPE_MAX_LENGTH",
            f"Must be {MAX_ATTACHMENTS} or fewer in length.",
        )
    check_message_components(errors, payload.get("components") or [], flags)
    check_allowed_mentions(errors, payload.get("allowed_mentions"))
    errors.raise_if_any()


def is_empty(message: dict[str, Any]) -> bool:
    """Return True when a message has nothing Discord would show."""
    return not (
        message.get("content")
        or message.get("embeds")
        or message.get("attachments")
        or message.get("components")
        or message.get("sticker_ids")
        or message.get("poll")
    )


# ===================================================================== modals
def check_text_input(errors: FormErrors, path: Path, comp: dict[str, Any], seen: set[str]) -> None:
    """Apply the text input rules."""
    check_custom_id(errors, path, comp.get("custom_id"), seen)
    if comp.get("style") not in (1, 2):
        errors.add((*path, "style"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    errors.max_len((*path, "value"), comp.get("value"), 4000)
    errors.max_len((*path, "placeholder"), comp.get("placeholder"), 100)
    low, high = comp.get("min_length"), comp.get("max_length")
    if low is not None and not 0 <= low <= 4000:
        errors.add((*path, "min_length"), "NUMBER_TYPE_MAX", "int value should be <= 4000.")
    if high is not None and not 1 <= high <= 4000:
        errors.add((*path, "max_length"), "NUMBER_TYPE_MAX", "int value should be <= 4000.")
    if low is not None and high is not None and low > high:
        errors.add(
            (*path, "min_length"),
            "BASE_TYPE_MIN_MAX_INVALID",
            "min_length must be less than or equal to max_length",
        )


def check_modal(data: Any) -> None:
    """Refuse a MODAL (type 9) callback body the way Discord does."""
    errors = FormErrors()
    if not isinstance(data, dict):
        errors.required(("data",), False)
        errors.raise_if_any()
        return
    errors.bad_len(("data", "custom_id"), data.get("custom_id"), 1, 100)
    errors.bad_len(("data", "title"), data.get("title"), 1, 45)
    rows = data.get("components") or []
    errors.bad_len(("data", "components"), rows, 1, 5)
    seen: set[str] = set()
    for i, row in enumerate(rows):
        path: Path = ("data", "components", i)
        kind = row.get("type")
        if kind == 1:
            children = row.get("components") or []
            errors.bad_len((*path, "components"), children, 1, 1)
            for j, comp in enumerate(children):
                cpath: Path = (*path, "components", j)
                if comp.get("type") != 4:
                    errors.add(
                        (*cpath, "type"),
                        "UNION_TYPE_CHOICES",
                        'Value of field "type" must be one of (4,).',
                    )
                    continue
                errors.required((*cpath, "label"), bool(comp.get("label")))
                errors.max_len((*cpath, "label"), comp.get("label"), 45)
                check_text_input(errors, cpath, comp, seen)
        elif kind == 18:  # Label wrapping one interactive component
            errors.bad_len((*path, "label"), row.get("label"), 1, 45)
            errors.max_len((*path, "description"), row.get("description"), 100)
            comp = row.get("component") or {}
            cpath = (*path, "component")
            if comp.get("type") == 4:
                if comp.get("label") is not None:
                    errors.add(
                        (*cpath, "label"),
                        "TEXT_INPUT_LABEL_NOT_ALLOWED_IN_LABEL",
                        "A text input inside a label cannot have its own label",
                    )
                check_text_input(errors, cpath, comp, seen)
            elif comp.get("type") in SELECT_TYPES:
                check_select(errors, cpath, comp, seen)
            else:
                errors.required(cpath, False)
        elif kind == 10:  # Text display
            errors.bad_len((*path, "content"), row.get("content"), 1, 4000)
        else:
            errors.add(
                (*path, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1, 10, 18).',
            )
    errors.raise_if_any()


def modal_inputs(modal: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return ``(custom_id, component)`` for each input of a stored modal, in order."""
    inputs = []
    for row in modal.get("components") or []:
        if row.get("type") == 1:
            inputs += [(c["custom_id"], c) for c in row.get("components") or []]
        elif row.get("type") == 18:
            inputs.append((row["component"]["custom_id"], row["component"]))
    return inputs


# ===================================================================== mentions
USER_MENTION = re.compile(r"<@!?(\d{15,21})>")
ROLE_MENTION = re.compile(r"<@&(\d{15,21})>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")


def mentioned(content: str) -> tuple[set[int], set[int], bool]:
    """Return (user ids, role ids, @everyone/@here) written in ``content``."""
    if "@" not in content:  # every mention has one
        return set(), set(), False
    users = {int(m) for m in USER_MENTION.findall(content)}
    roles = {int(m) for m in ROLE_MENTION.findall(content)}
    return users, roles, bool(EVERYONE_MENTION.search(content))
