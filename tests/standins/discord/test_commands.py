"""Bulk command overwrites: the stand-in echoes valid ones and refuses what Discord refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.standins.discord.testclient import RawClient


def option(name: str = "prompt", kind: int = 3, **kw: Any) -> dict[str, Any]:
    """Return a command option."""
    return {"type": kind, "name": name, "description": "An option", **kw}


def command(name: str = "imagine", **kw: Any) -> dict[str, Any]:
    """Return a CHAT_INPUT command."""
    return {"type": 1, "name": name, "description": "Make an image", "options": [], **kw}


def choices(n: int, value: Any = "v") -> list[dict[str, Any]]:
    """Return ``n`` distinct choices."""
    return [{"name": f"c{i}", "value": value if value != "v" else f"v{i}"} for i in range(n)]


def sub(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    """Return a subcommand."""
    return option(name, 1, options=list(options))


def group(name: str, *subs: dict[str, Any]) -> dict[str, Any]:
    """Return a subcommand group."""
    return option(name, 2, options=list(subs))


# (case, commands, path of the error in the 50035 tree)
COMMAND_REFUSALS: list[tuple[str, list[dict[str, Any]], tuple[str, ...]]] = [
    ("upper-case name", [command("Imagine")], ("0", "name")),
    ("space in name", [command("my command")], ("0", "name")),
    ("name over 32", [command("n" * 33)], ("0", "name")),
    ("empty description", [command(description="")], ("0", "description")),
    ("description over 100", [command(description="d" * 101)], ("0", "description")),
    (
        "more than 25 options",
        [command(options=[option(f"o{i}") for i in range(26)])],
        ("0", "options"),
    ),
    ("invalid option name", [command(options=[option("Bad Name")])], ("0", "options", "0", "name")),
    (
        "option description over 100",
        [command(options=[option(description="d" * 101)])],
        ("0", "options", "0", "description"),
    ),
    (
        "more than 25 choices",
        [command(options=[option(choices=choices(26))])],
        ("0", "options", "0", "choices"),
    ),
    (
        "choice name over 100",
        [command(options=[option(choices=[{"name": "n" * 101, "value": "v"}])])],
        ("0", "options", "0", "choices", "0", "name"),
    ),
    (
        "string value on an integer option",
        [command(options=[option(kind=4, choices=[{"name": "one", "value": "1"}])])],
        ("0", "options", "0", "choices", "0", "value"),
    ),
    (
        "float value on an integer option",
        [command(options=[option(kind=4, choices=[{"name": "half", "value": 0.5}])])],
        ("0", "options", "0", "choices", "0", "value"),
    ),
    (
        "string choice value over 100",
        [command(options=[option(choices=[{"name": "n", "value": "v" * 101}])])],
        ("0", "options", "0", "choices", "0", "value"),
    ),
    (
        "required after optional",
        [command(options=[option("a"), option("b", required=True)])],
        ("0", "options", "1", "required"),
    ),
    (
        "group containing a plain option",
        [command(options=[group("channel", sub("show"), option("x"))])],
        ("0", "options", "0", "options"),
    ),
    (
        "subcommand mixed with a plain option",
        [command(options=[sub("show"), option("x")])],
        ("0", "options"),
    ),
    (
        "subcommand inside a subcommand",
        [command(options=[sub("outer", sub("inner"))])],
        ("0", "options", "0", "options", "0", "type"),
    ),
    (
        "group inside a group",
        [command(options=[group("a", group("b", sub("c")))])],
        ("0", "options", "0", "options"),
    ),
    (
        "min_value above max_value",
        [command(options=[option(kind=4, min_value=6, max_value=1)])],
        ("0", "options", "0", "min_value"),
    ),
    (
        "min_length above max_length",
        [command(options=[option(min_length=10, max_length=5)])],
        ("0", "options", "0", "min_length"),
    ),
    (
        "min_length on an integer option",
        [command(options=[option(kind=4, min_length=1)])],
        ("0", "options", "0", "min_length"),
    ),
    (
        "max_length over 6000",
        [command(options=[option(max_length=6001)])],
        ("0", "options", "0", "max_length"),
    ),
    ("duplicate command names", [command(), command()], ("1", "name")),
    (
        "duplicate option names",
        [command(options=[option("a"), option("a")])],
        ("0", "options", "1", "name"),
    ),
    ("more than 100 chat input commands", [command(f"c{i}") for i in range(101)], ()),
    (
        "more than 4000 characters",
        [
            command(
                options=[
                    option(
                        f"o{i}",
                        description="d" * 100,
                        choices=[{"name": "n" * 100, "value": f"{i}{j}"} for j in range(20)],
                    )
                    for i in range(2)
                ]
            )
        ],
        ("0",),
    ),
    (
        "description on a user command",
        [{"type": 2, "name": "Info", "description": "x"}],
        ("0", "description"),
    ),
    (
        "localised description over 100",
        [command(description_localizations={"zh-CN": "描" * 101})],
        ("0", "description_localizations", "zh-CN"),
    ),
    (
        "localisation for a locale Discord lacks",
        [command(description_localizations={"zh": "生成图片"})],
        ("0", "description_localizations", "zh"),
    ),
    (
        "localised option name with a space",
        [command(options=[option(name_localizations={"zh-CN": "提示 词"})])],
        ("0", "options", "0", "name_localizations", "zh-CN"),
    ),
    (
        "empty localised choice name",
        [
            command(
                options=[
                    option(
                        choices=[{"name": "a", "value": "a", "name_localizations": {"zh-CN": ""}}]
                    )
                ]
            )
        ],
        ("0", "options", "0", "choices", "0", "name_localizations", "zh-CN"),
    ),
    (
        "over 4000 characters counting the longest localisation",
        [
            command(
                options=[
                    option(
                        f"o{i}",
                        description="d",
                        description_localizations={"zh-CN": "描" * 100},
                        choices=[
                            {"name": "c", "value": "v", "name_localizations": {"ja": "名" * 100}}
                        ],
                    )
                    for i in range(20)
                ]
            )
        ],
        ("0",),
    ),
]


def error_node(body: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """Return the node at ``path`` of the error tree."""
    node = body["errors"]
    for part in path:
        node = node[part]
    return node


@pytest.mark.parametrize(
    ("commands", "path"),
    [c[1:] for c in COMMAND_REFUSALS],
    ids=[c[0] for c in COMMAND_REFUSALS],
)
async def test_bulk_overwrite_refuses_broken_definitions(
    raw: RawClient, commands: list[dict[str, Any]], path: tuple[str, ...]
) -> None:
    """Each command rule: 400 50035 with the error at the offending definition's path."""
    app, guild = raw.fake.world.application_id, raw.fake.world.guild_id
    for route in (f"/applications/{app}/commands", f"/applications/{app}/guilds/{guild}/commands"):
        answer = await raw.request("PUT", route, json_body=commands)
        assert (answer.status, answer.code) == (400, 50035), answer.body
        assert error_node(answer.body, path)["_errors"], answer.body
    assert raw.fake.command_syncs == {}


async def test_bulk_overwrite_echoes_with_stable_ids(raw: RawClient) -> None:
    """Valid commands are echoed with ids; ids survive a re-sync; syncs are counted per scope."""
    fake = raw.fake
    app, guild = fake.world.application_id, fake.world.guild_id
    commands = [
        command(
            options=[
                option(required=True, min_length=1, max_length=1000),
                option("size", choices=[{"name": "Square", "value": "square"}]),
                option("images", 4, min_value=1, max_value=6),
            ]
        ),
        command(
            "imagine-admin",
            options=[
                group("channel", sub("enable", option("channel", 7)), sub("show")),
                sub("usage", option("period", choices=[{"name": "Day", "value": "day"}])),
            ],
        ),
        command("चित्र"),  # Devanagari names are valid
        {"type": 3, "name": "Remix This", "description": ""},
    ]
    route = f"/applications/{app}/guilds/{guild}/commands"
    first = await raw.request("PUT", route, json_body=commands)
    assert first.status == 200, first.body
    assert [c["name"] for c in first.body] == [c["name"] for c in commands]
    assert all(c["application_id"] == str(app) and c["guild_id"] == str(guild) for c in first.body)
    again = await raw.request("PUT", route, json_body=copy.deepcopy(commands))
    assert [c["id"] for c in again.body] == [c["id"] for c in first.body]
    listed = await raw.request("GET", route)
    assert listed.body == again.body
    assert fake.command_syncs == {guild: 2}
    assert (await raw.request("GET", f"/applications/{app}/commands")).body == []
