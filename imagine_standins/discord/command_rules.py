"""Discord's rules for application command definitions (bulk overwrite), as 400 50035 trees."""

from __future__ import annotations

import unicodedata
from typing import Any

from imagine_standins.discord.rules import FormErrors, Path

# ===================================================================== commands
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, NUMBER = 3, 4, 10
MAX_CHAT_INPUT_COMMANDS = 100
MAX_CONTEXT_MENU_COMMANDS = 15
MAX_COMMAND_SIZE = 4000
JS_SAFE_INT = 2**53
#: Discord's locales: the keys of ``*_localizations`` and the values of an interaction's
#: ``locale`` and ``guild_locale``.
DISCORD_LOCALES = frozenset(
    {
        "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu",
        "nl", "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru",
        "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
    }
)  # fmt: skip


def _name_char_ok(ch: str) -> bool:
    """``[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]`` without the third-party regex module."""
    if ch in "-_'":
        return True
    if unicodedata.category(ch)[0] in "LN":
        return True
    cp = ord(ch)
    return 0x0900 <= cp <= 0x097F or 0xA8E0 <= cp <= 0xA8FF or 0x0E00 <= cp <= 0x0E7F


def valid_chat_input_name(name: Any) -> bool:
    """Return True for a valid lower-case CHAT_INPUT command or option name."""
    return (
        isinstance(name, str)
        and 1 <= len(name) <= 32
        and all(_name_char_ok(c) for c in name)
        and name == name.lower()
    )


def _choice_value_ok(option_type: int, value: Any) -> bool:
    if option_type == STRING:
        return isinstance(value, str)
    if option_type == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= JS_SAFE_INT
    if option_type == NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def _longest(node: dict[str, Any], field: str) -> int:
    """Return the length of a field, or of its longest localisation if that is longer.

    Discord counts only the longest of a field's default and localised values.
    """
    values = [str(node.get(field) or "")]
    localised = node.get(f"{field}_localizations")
    if isinstance(localised, dict):
        values += [str(v) for v in localised.values()]
    return max(len(v) for v in values)


def _command_chars(node: dict[str, Any]) -> int:
    total = _longest(node, "name") + _longest(node, "description")
    for choice in node.get("choices") or []:
        total += _longest(choice, "name") + len(str(choice.get("value")))
    for option in node.get("options") or []:
        total += _command_chars(option)
    return total


def _check_localizations(errors: FormErrors, path: Path, node: dict[str, Any]) -> None:
    """Apply the name and description rules to every localised value, keyed by locale."""
    for field in ("name", "description"):
        key = f"{field}_localizations"
        localised = node.get(key)
        if localised is None:
            continue
        if not isinstance(localised, dict):
            errors.add((*path, key), "DICT_TYPE_CONVERT", "Only dictionaries may be used")
            continue
        for locale, value in localised.items():
            p: Path = (*path, key, locale)
            if locale not in DISCORD_LOCALES:
                errors.add(p, "LOCALE_INVALID", f"Invalid locale: {locale}")
            elif field == "name" and not _is_choice(path):
                if not valid_chat_input_name(value):
                    errors.add(p, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
            else:
                errors.bad_len(p, value, 1, 100)


def _is_choice(path: Path) -> bool:
    return len(path) >= 2 and path[-2] == "choices"


def _check_options(
    errors: FormErrors, path: Path, options: list[dict[str, Any]], depth: int
) -> None:
    """Check one level of options (``depth``: 0 command, 1 group/subcommand, 2 subcommand)."""
    errors.max_len((*path, "options"), options, 25)
    kinds = [o.get("type") for o in options]
    nested = [k in (SUB_COMMAND, SUB_COMMAND_GROUP) for k in kinds]
    if any(nested) and not all(nested):
        errors.add(
            (*path, "options"),
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other"
            " types",
        )
    names: set[Any] = set()
    seen_optional = False
    for i, opt in enumerate(options):
        p: Path = (*path, "options", i)
        kind = opt.get("type")
        name = opt.get("name")
        if not valid_chat_input_name(name):
            errors.add((*p, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if name in names:
            errors.add(
                (*p, "name"),
                "APPLICATION_COMMAND_OPTIONS_DUPLICATE_NAME",
                "Application command option names must be unique",
            )
        names.add(name)
        errors.bad_len((*p, "description"), opt.get("description"), 1, 100)
        _check_localizations(errors, p, opt)
        if not isinstance(kind, int) or not 1 <= kind <= 11:
            errors.add((*p, "type"), "BASE_TYPE_CHOICES", "Value must be one of (1..11).")
            continue
        if kind == SUB_COMMAND_GROUP:
            if depth != 0:
                errors.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups can only be nested at the top level",
                )
            subs = opt.get("options") or []
            if any(o.get("type") != SUB_COMMAND for o in subs):
                errors.add(
                    (*p, "options"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-command groups can only contain sub-commands",
                )
            errors.bad_len((*p, "options"), subs, 1, 25)
            _check_options(errors, p, subs, depth + 1)
            continue
        if kind == SUB_COMMAND:
            if depth > 1:
                errors.add(
                    (*p, "type"),
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "Sub-commands can only be nested in a command or a sub-command group",
                )
            _check_options(errors, p, opt.get("options") or [], 2)
            continue
        if opt.get("options"):
            errors.add(
                (*p, "options"),
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Only sub-commands and sub-command groups can have options",
            )
        required = bool(opt.get("required"))
        if required and seen_optional:
            errors.add(
                (*p, "required"),
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        seen_optional = seen_optional or not required
        _check_option_values(errors, p, opt, kind)


def _check_option_values(errors: FormErrors, p: Path, opt: dict[str, Any], kind: int) -> None:
    choices = opt.get("choices")
    if choices is not None:
        if kind not in (STRING, INTEGER, NUMBER):
            errors.add(
                (*p, "choices"),
                "APPLICATION_COMMAND_OPTION_CHOICES_NOT_ALLOWED",
                "Choices are only allowed for string, integer and number options",
            )
        errors.max_len((*p, "choices"), choices, 25)
        if choices and opt.get("autocomplete"):
            errors.add(
                (*p, "autocomplete"),
                "APPLICATION_COMMAND_AUTOCOMPLETE_CHOICES_EXCLUSIVE",
                "Autocomplete and choices are mutually exclusive",
            )
        for k, choice in enumerate(choices):
            errors.bad_len((*p, "choices", k, "name"), choice.get("name"), 1, 100)
            _check_localizations(errors, (*p, "choices", k), choice)
            value = choice.get("value")
            if not _choice_value_ok(kind, value):
                errors.add(
                    (*p, "choices", k, "value"),
                    "APPLICATION_COMMAND_OPTION_CHOICE_VALUE_INVALID",
                    "Choice value type does not match the option type",
                )
            elif kind == STRING:
                errors.bad_len((*p, "choices", k, "value"), value, 1, 100)
    low, high = opt.get("min_value"), opt.get("max_value")
    if (low is not None or high is not None) and kind not in (INTEGER, NUMBER):
        errors.add(
            (*p, "min_value" if low is not None else "max_value"),
            "APPLICATION_COMMAND_OPTION_MIN_MAX_NOT_ALLOWED",
            "min_value and max_value are only allowed for integer and number options",
        )
    for key, value in (("min_value", low), ("max_value", high)):
        if value is not None and (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or abs(value) > JS_SAFE_INT
        ):
            errors.add((*p, key), "NUMBER_TYPE_MAX", f"{key} must be between -2^53 and 2^53")
    if isinstance(low, int | float) and isinstance(high, int | float) and low > high:
        errors.add(
            (*p, "min_value"),
            "BASE_TYPE_MIN_MAX_INVALID",
            "min_value must be less than or equal to max_value",
        )
    low_len, high_len = opt.get("min_length"), opt.get("max_length")
    if (low_len is not None or high_len is not None) and kind != STRING:
        errors.add(
            (*p, "min_length" if low_len is not None else "max_length"),
            "APPLICATION_COMMAND_OPTION_LENGTH_NOT_ALLOWED",
            "min_length and max_length are only allowed for string options",
        )
    if low_len is not None and not 0 <= low_len <= 6000:
        errors.add((*p, "min_length"), "NUMBER_TYPE_MAX", "int value should be <= 6000.")
    if high_len is not None and not 1 <= high_len <= 6000:
        errors.add((*p, "max_length"), "NUMBER_TYPE_MIN", "int value should be >= 1.")
    if low_len is not None and high_len is not None and low_len > high_len:
        errors.add(
            (*p, "min_length"),
            "BASE_TYPE_MIN_MAX_INVALID",
            "min_length must be less than or equal to max_length",
        )


def check_command(errors: FormErrors, path: Path, cmd: dict[str, Any]) -> None:
    """Apply Discord's rules to one command definition."""
    kind = cmd.get("type", CHAT_INPUT)
    name = cmd.get("name")
    if kind == CHAT_INPUT:
        if not valid_chat_input_name(name):
            errors.add(
                (*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid"
            )
        errors.bad_len((*path, "description"), cmd.get("description"), 1, 100)
        _check_localizations(errors, path, cmd)
        _check_options(errors, path, cmd.get("options") or [], 0)
    elif kind in (USER_COMMAND, MESSAGE_COMMAND):
        errors.bad_len((*path, "name"), name, 1, 32)
        if cmd.get("description"):
            errors.add(
                (*path, "description"),
                "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION",
                "Context menu commands cannot have a description",
            )
        if cmd.get("options"):
            errors.add(
                (*path, "options"),
                "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS",
                "Context menu commands cannot have options",
            )
    else:
        errors.add((*path, "type"), "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4).")
    if _command_chars(cmd) > MAX_COMMAND_SIZE:
        errors.add(path, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)")


def check_bulk_commands(commands: Any) -> None:
    """Refuse a bulk-overwrite body that Discord would refuse (400 50035 with the error tree)."""
    errors = FormErrors()
    if not isinstance(commands, list):
        errors.add((), "BASE_TYPE_ARRAY", "Must be an array.")
        errors.raise_if_any()
        return
    seen: set[tuple[Any, Any]] = set()
    counts = {CHAT_INPUT: 0, USER_COMMAND: 0, MESSAGE_COMMAND: 0}
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, dict):
            errors.add((i,), "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        check_command(errors, (i,), cmd)
        kind = cmd.get("type", CHAT_INPUT)
        counts[kind] = counts.get(kind, 0) + 1
        key = (kind, cmd.get("name"))
        if key in seen:
            errors.add(
                (i, "name"),
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add(key)
    if counts[CHAT_INPUT] > MAX_CHAT_INPUT_COMMANDS:
        errors.add(
            (),
            "APPLICATION_COMMANDS_TOO_MANY_CHAT_INPUT",
            f"Maximum number of chat input commands reached ({MAX_CHAT_INPUT_COMMANDS})",
        )
    for kind in (USER_COMMAND, MESSAGE_COMMAND):
        if counts[kind] > MAX_CONTEXT_MENU_COMMANDS:
            errors.add(
                (),
                "APPLICATION_COMMANDS_TOO_MANY_CONTEXT_MENU",
                f"Maximum number of context menu commands reached ({MAX_CONTEXT_MENU_COMMANDS})",
            )
    errors.raise_if_any()
