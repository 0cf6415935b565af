"""The Discord stand-in refuses what Discord refuses, with Discord's status and codes (raw HTTP)."""

from __future__ import annotations

from typing import Any

import pytest

from imagine_standins.discord.server import FakeDiscord
from tests.standins.discord.testclient import RATE_LIMIT_HEADERS, RawClient

MIB = 1024 * 1024


def button(custom_id: str | None = "b", **kw: Any) -> dict[str, Any]:
    """Return a button component."""
    data: dict[str, Any] = {"type": 2, "style": 1, "label": "Go", **kw}
    if custom_id is not None:
        data["custom_id"] = custom_id
    return data


def row(*components: dict[str, Any]) -> dict[str, Any]:
    """Return an action row."""
    return {"type": 1, "components": list(components)}


def embed(**kw: Any) -> dict[str, Any]:
    """Return an embed."""
    return {"title": "t", **kw}


FIELD = {"name": "n", "value": "v"}

# (case, message body, path of the error in the 50035 tree)
MESSAGE_REFUSALS = [
    ("content over 2000", {"content": "x" * 2001}, ("content",)),
    ("more than 10 embeds", {"embeds": [embed()] * 11}, ("embeds",)),
    ("title over 256", {"embeds": [embed(title="t" * 257)]}, ("embeds", "0", "title")),
    (
        "description over 4096",
        {"embeds": [embed(description="d" * 4097)]},
        ("embeds", "0", "description"),
    ),
    ("more than 25 fields", {"embeds": [embed(fields=[FIELD] * 26)]}, ("embeds", "0", "fields")),
    (
        "field name over 256",
        {"embeds": [embed(fields=[{"name": "n" * 257, "value": "v"}])]},
        ("embeds", "0", "fields", "0", "name"),
    ),
    (
        "field value over 1024",
        {"embeds": [embed(fields=[{"name": "n", "value": "v" * 1025}])]},
        ("embeds", "0", "fields", "0", "value"),
    ),
    (
        "footer over 2048",
        {"embeds": [embed(footer={"text": "f" * 2049})]},
        ("embeds", "0", "footer", "text"),
    ),
    (
        "author name over 256",
        {"embeds": [embed(author={"name": "a" * 257})]},
        ("embeds", "0", "author", "name"),
    ),
    (
        "embeds over 6000 in total",
        {"embeds": [embed(description="d" * 4000), embed(description="d" * 2000)]},
        ("embeds",),
    ),
    (
        "more than 5 action rows",
        {"components": [row(button(f"b{i}")) for i in range(6)]},
        ("components",),
    ),
    (
        "more than 5 buttons in a row",
        {"components": [row(*(button(f"b{i}") for i in range(6)))]},
        ("components", "0", "components"),
    ),
    (
        "custom_id over 100",
        {"components": [row(button("c" * 101))]},
        ("components", "0", "components", "0", "custom_id"),
    ),
    (
        "label over 80",
        {"components": [row(button(label="l" * 81))]},
        ("components", "0", "components", "0", "label"),
    ),
    (
        "duplicate custom_id",
        {"components": [row(button("same")), row(button("same", disabled=True))]},
        ("components", "1", "components", "0", "custom_id"),
    ),
    (
        "link button with custom_id",
        {"components": [row(button("b", style=5, url="https://example.com"))]},
        ("components", "0", "components", "0", "custom_id"),
    ),
    (
        "link button without url",
        {"components": [row(button(None, style=5))]},
        ("components", "0", "components", "0", "url"),
    ),
    (
        "button without custom_id",
        {"components": [row(button(None))]},
        ("components", "0", "components", "0", "custom_id"),
    ),
    (
        "allowed_mentions parse users and users list",
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
        ("allowed_mentions",),
    ),
]


@pytest.mark.parametrize(
    ("body", "path"), [c[1:] for c in MESSAGE_REFUSALS], ids=[c[0] for c in MESSAGE_REFUSALS]
)
async def test_message_limits_are_refused_with_invalid_form_body(
    raw: RawClient, body: dict[str, Any], path: tuple[str, ...]
) -> None:
    """Each message limit: 400, code 50035, the error at the offending field's path."""
    answer = await raw.send(raw.fake.world.channel.id, body)
    assert (answer.status, answer.code, answer.body["message"]) == (400, 50035, "Invalid Form Body")
    assert answer.error_at(*path), answer.body
    assert raw.fake.messages == {}


async def test_limits_are_inclusive(raw: RawClient) -> None:
    """Exactly at every limit is accepted."""
    body = {
        "content": "x" * 2000,
        "embeds": [
            embed(title="t" * 256, description="d" * 2000, fields=[FIELD] * 25),
            *[embed(title="", description="d" * 400)] * 9,
        ],
        "components": [
            row(*(button(f"b{r}{i}", label="l" * 80) for i in range(5))) for r in range(5)
        ],
    }
    answer = await raw.send(raw.fake.world.channel.id, body)
    assert answer.status == 200, answer.body


async def test_empty_message_is_refused(raw: RawClient) -> None:
    """No content, embeds, attachments or components: 400 50006."""
    answer = await raw.send(raw.fake.world.channel.id, {"content": ""})
    assert (answer.status, answer.code) == (400, 50006)
    assert answer.body["message"] == "Cannot send an empty message"


async def test_more_than_ten_attachments_are_refused(raw: RawClient) -> None:
    """Eleven files in one message: 400 50035."""
    files = [(f"f{i}.txt", b"x") for i in range(11)]
    answer = await raw.send(raw.fake.world.channel.id, {"content": "files"}, files=files)
    assert (answer.status, answer.code) == (400, 50035)


async def test_upload_over_the_interaction_limit_is_413(raw: RawClient) -> None:
    """Files summed over the message above attachment_size_limit: 413 40005."""
    interaction = await raw.command(attachment_size_limit=1000)
    await raw.callback(interaction, {"type": 5})
    answer = await raw.followup(
        interaction, {}, files=[("a.bin", b"a" * 600), ("b.bin", b"b" * 600)]
    )
    assert (answer.status, answer.code) == (413, 40005)
    assert answer.body["message"] == "Request entity too large"
    ok = await raw.followup(interaction, {}, files=[("a.bin", b"a" * 1000)])
    assert ok.status == 200


async def test_channel_upload_over_the_guild_limit_is_413(raw: RawClient) -> None:
    """Bot channel messages use the guild's 10 MiB limit."""
    channel = raw.fake.world.channel.id
    answer = await raw.send(channel, {}, files=[("big.bin", b"\0" * (10 * MIB + 1))])
    assert (answer.status, answer.code) == (413, 40005)


MODAL_OK = {
    "custom_id": "m",
    "title": "Remix",
    "components": [row({"type": 4, "custom_id": "prompt", "style": 2, "label": "Prompt"})],
}


def modal_with(**changes: Any) -> dict[str, Any]:
    """Return MODAL_OK with the text input changed."""
    text_input = {**MODAL_OK["components"][0]["components"][0], **changes}
    return {**MODAL_OK, "components": [row(text_input)]}


MODAL_REFUSALS = [
    ("title over 45", {**MODAL_OK, "title": "t" * 46}, ("data", "title")),
    ("no rows", {**MODAL_OK, "components": []}, ("data", "components")),
    ("six rows", {**MODAL_OK, "components": MODAL_OK["components"] * 6}, ("data", "components")),
    ("button in a modal", {**MODAL_OK, "components": [row(button())]}, ("data", "components", "0")),
    ("label over 45", modal_with(label="l" * 46), ("data", "components", "0", "components", "0")),
    (
        "value over 4000",
        modal_with(value="v" * 4001),
        ("data", "components", "0", "components", "0"),
    ),
    (
        "placeholder over 100",
        modal_with(placeholder="p" * 101),
        ("data", "components", "0", "components", "0"),
    ),
    (
        "min_length above max_length",
        modal_with(min_length=10, max_length=5),
        ("data", "components", "0", "components", "0"),
    ),
]


@pytest.mark.parametrize(
    ("modal", "path"), [c[1:] for c in MODAL_REFUSALS], ids=[c[0] for c in MODAL_REFUSALS]
)
async def test_modal_limits_are_refused(
    raw: RawClient, modal: dict[str, Any], path: tuple[str, ...]
) -> None:
    """A type 9 callback that breaks a modal rule: 400 50035, and the interaction stays open."""
    interaction = await raw.command()
    answer = await raw.callback(interaction, {"type": 9, "data": modal})
    assert (answer.status, answer.code) == (400, 50035)
    node = answer.body["errors"]
    for part in path:
        node = node[part]
    assert not interaction.acknowledged
    assert (await raw.callback(interaction, {"type": 9, "data": MODAL_OK})).status == 200


async def test_callback_after_three_seconds_is_unknown_interaction(raw: RawClient) -> None:
    """Later than 3 s after creation: 404 10062."""
    interaction = await raw.command()
    raw.fake.advance_time(3.01)
    answer = await raw.callback(interaction, {"type": 5})
    assert (answer.status, answer.code) == (404, 10062)
    assert answer.body["message"] == "Unknown interaction"


async def test_second_callback_is_already_acknowledged(raw: RawClient) -> None:
    """A second callback: 400 40060."""
    interaction = await raw.command()
    assert (await raw.callback(interaction, {"type": 5})).status == 200
    answer = await raw.callback(interaction, {"type": 4, "data": {"content": "again"}})
    assert (answer.status, answer.code) == (400, 40060)
    assert answer.body["message"] == "Interaction has already been acknowledged"


async def test_followup_before_any_callback_is_unknown_webhook(raw: RawClient) -> None:
    """The interaction webhook exists only once acknowledged: 404 10015 (as Discord answers)."""
    interaction = await raw.command()
    answer = await raw.followup(interaction, {"content": "too early"})
    assert (answer.status, answer.code) == (404, 10015)
    edit = await raw.webhook_message("PATCH", interaction, payload={"content": "x"})
    assert (edit.status, edit.code) == (404, 10015)


@pytest.mark.parametrize("method", ["POST", "PATCH", "GET", "DELETE"])
async def test_expired_interaction_token_is_invalid_webhook_token(
    raw: RawClient, method: str
) -> None:
    """After the token lifetime (settable per fake): 401 50027 for followups and edits."""
    raw.fake.token_lifetime = 60
    interaction = await raw.command()
    await raw.callback(interaction, {"type": 4, "data": {"content": "hi"}})
    raw.fake.advance_time(61)
    if method == "POST":
        answer = await raw.followup(interaction, {"content": "late"})
    else:
        body = {"content": "late"} if method == "PATCH" else None
        answer = await raw.webhook_message(method, interaction, payload=body)
    assert (answer.status, answer.code) == (401, 50027)
    assert answer.body["message"] == "Invalid Webhook Token"


async def test_callback_with_response_shapes(raw: RawClient) -> None:
    """with_response=1: 200 {interaction, resource}; without: 204."""
    fake = raw.fake
    deferred = await raw.command()
    answer = await raw.callback(deferred, {"type": 5, "data": {"flags": 64}})
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    info = answer.body["interaction"]
    assert info["id"] == str(deferred.id) and info["type"] == 2
    assert info["response_message_loading"] and info["response_message_ephemeral"]
    assert answer.body["resource"]["type"] == 5
    assert answer.body["resource"]["message"]["flags"] == 64 | 128

    replied = await raw.command()
    answer = await raw.callback(
        replied, {"type": 4, "data": {"content": "hi"}}, with_response=False
    )
    assert answer.status == 204 and answer.body is None
    assert fake.original_for(replied).content == "hi"

    invalid = await raw.command()
    answer = await raw.callback(invalid, {"type": 6})
    assert (answer.status, answer.code) == (400, 50035)


async def test_followup_after_defer_resolves_the_loading_message(raw: RawClient) -> None:
    """First followup edits the 'thinking…' message and keeps its ephemerality; the next is new."""
    fake = raw.fake
    interaction = await raw.command()
    await raw.callback(interaction, {"type": 5, "data": {"flags": 64}})
    first = await raw.followup(interaction, {"content": "done", "flags": 0})
    assert first.body["id"] == str(interaction.original_message_id)
    assert first.body["flags"] == 64
    second = await raw.followup(interaction, {"content": "more"})
    assert second.body["id"] != first.body["id"] and second.body["flags"] == 0
    assert [m.content for m in fake.followups_for(interaction)] == ["done", "more"]
    assert (await raw.webhook_message("GET", interaction)).body["content"] == "done"
    assert (await raw.webhook_message("DELETE", interaction, second.body["id"])).status == 204
    gone = await raw.webhook_message("GET", interaction, second.body["id"])
    assert (gone.status, gone.code) == (404, 10008)


async def test_component_update_and_multipart_callback(raw: RawClient) -> None:
    """A button click answered with type 7 (multipart) edits the message that carries it."""
    fake = raw.fake
    posted = await raw.send(
        fake.world.channel.id, {"content": "pick", "components": [row(button("go"))]}
    )
    message = fake.messages[int(posted.body["id"])]
    click = await fake.click_button(message, "go", fake.world.bob)
    answer = await raw.callback(
        click,
        {"type": 7, "data": {"content": "picked", "components": [], "attachments": [{"id": 0}]}},
        files=[("p.txt", b"hello")],
    )
    assert answer.status == 200 and answer.body["resource"]["type"] == 7
    assert message.content == "picked" and message.components == []
    (attachment,) = message.attachments
    async with raw.session.get(attachment.url) as response:
        assert await response.read() == b"hello"
    assert click.payload["message"]["id"] == str(message.id)


async def test_channel_messages_round_trip(raw: RawClient) -> None:
    """POST, GET, PATCH, DELETE and history on a channel; unknown ids get 10003/10008."""
    channel = raw.fake.world.channel.id
    posted = await raw.send(channel, {"content": "one"})
    mid = posted.body["id"]
    assert (await raw.request("GET", f"/channels/{channel}/messages/{mid}")).body[
        "content"
    ] == "one"
    patched = await raw.request(
        "PATCH", f"/channels/{channel}/messages/{mid}", json_body={"content": "two"}
    )
    assert patched.body["content"] == "two" and patched.body["edited_timestamp"]
    history = await raw.request("GET", f"/channels/{channel}/messages", params={"limit": "5"})
    assert [m["id"] for m in history.body] == [mid]
    assert (await raw.request("DELETE", f"/channels/{channel}/messages/{mid}")).status == 204
    gone = await raw.request("GET", f"/channels/{channel}/messages/{mid}")
    assert (gone.status, gone.code) == (404, 10008)
    nowhere = await raw.send(1, {"content": "x"})
    assert (nowhere.status, nowhere.code) == (404, 10003)


# (content, allowed_mentions, who is pinged: names of world members or "everyone")
PING_CASES = [
    ("{alice} @everyone", None, "everyone"),
    ("{alice} @everyone", {"parse": []}, set()),
    ("{alice} {bob}", {"parse": [], "users": ["{alice_id}"]}, {"alice"}),
    ("{alice} {bob}", {"parse": ["users"]}, {"alice", "bob"}),
    ("{artists}", {"parse": ["roles"]}, {"alice"}),
    ("{artists} @here", {"parse": ["users"]}, set()),
]


@pytest.mark.parametrize(("content", "allowed", "expected"), PING_CASES)
async def test_pings_follow_allowed_mentions(
    raw: RawClient, content: str, allowed: dict[str, Any] | None, expected: Any
) -> None:
    """The stored message says which users it would actually notify."""
    world = raw.fake.world
    names = {
        "alice": world.alice.mention,
        "bob": world.bob.mention,
        "artists": world.artists_role.mention,
        "alice_id": str(world.alice.id),
    }
    body: dict[str, Any] = {"content": content.format(**names)}
    if allowed is not None:
        body["allowed_mentions"] = {
            k: [v.format(**names) for v in vs] if k == "users" else vs for k, vs in allowed.items()
        }
    answer = await raw.send(world.channel.id, body)
    message = raw.fake.messages[int(answer.body["id"])]
    if expected == "everyone":
        want = set(world.members) - {world.bot_user.id}
    else:
        want = {world.member_named(n).id for n in expected}
    assert message.pinged_user_ids == want


async def test_auth_is_required_on_bot_routes_only(raw: RawClient) -> None:
    """Bot routes: 401 code 0 without or with a wrong token; interaction routes need none."""
    for auth in (False, "Bot wrong", raw.fake.token):
        answer = await raw.request("GET", "/users/@me", auth=auth)
        assert (answer.status, answer.body) == (401, {"message": "401: Unauthorized", "code": 0})
    interaction = await raw.command()
    assert (await raw.callback(interaction, {"type": 5})).status == 200


async def test_unknown_route_is_404_and_recorded(raw: RawClient) -> None:
    """Unknown routes answer 404 JSON and land in fake.unhandled."""
    answer = await raw.request("POST", "/channels/1/pins/2")
    assert (answer.status, answer.body) == (404, {"message": "404: Not Found", "code": 0})
    assert [r.path for r in raw.fake.unhandled] == ["/channels/1/pins/2"]
    raw.fake.unhandled.clear()


async def test_every_answer_has_exact_json_type_and_all_rate_limit_headers(raw: RawClient) -> None:
    """Content-Type is exactly application/json; the five X-RateLimit headers are always there."""
    answers = [
        await raw.request("GET", "/users/@me"),
        await raw.request("GET", "/users/@me", auth=False),
        await raw.request("GET", "/nope"),
        await raw.send(raw.fake.world.channel.id, {"content": ""}),
    ]
    raw.fake.unhandled.clear()
    for answer in answers:
        assert answer.headers["Content-Type"] == "application/json"
        assert all(h in answer.headers for h in RATE_LIMIT_HEADERS), dict(answer.headers)


async def test_message_create_bucket_is_five_per_five_seconds_per_channel(raw: RawClient) -> None:
    """The sixth message in a channel within 5 s: 429 with Via, Retry-After and the JSON body."""
    fake, world = raw.fake, raw.fake.world
    answers = [await raw.send(world.channel.id, {"content": str(i)}) for i in range(6)]
    assert [a.status for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:5]] == ["4", "3", "2", "1", "0"]
    limited = answers[5]
    assert limited.headers["Via"] == "1.1 google" and "Retry-After" in limited.headers
    assert limited.body["message"] == "You are being rate limited."
    assert 0 < limited.body["retry_after"] <= 5 and limited.body["global"] is False
    assert (await raw.send(world.other_channel.id, {"content": "other"})).status == 200
    fake.advance_time(5)
    assert (await raw.send(world.channel.id, {"content": "later"})).status == 200
    assert fake.served_429s == 1


async def test_webhook_message_edits_are_limited_per_token(raw: RawClient) -> None:
    """Edits of one interaction's messages share a bucket; another token has its own."""
    first, second = await raw.command(), await raw.command()
    for interaction in (first, second):
        await raw.callback(interaction, {"type": 4, "data": {"content": "0"}})
    edits = [
        await raw.webhook_message("PATCH", first, payload={"content": str(i)}) for i in range(6)
    ]
    assert [e.status for e in edits] == [200] * 5 + [429]
    other = await raw.webhook_message("PATCH", second, payload={"content": "x"})
    assert other.status == 200


async def test_injected_429s(raw: RawClient) -> None:
    """inject_429 by route key or predicate, global or not; each is served once by default."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    fake.inject_429("POST /channels/{channel_id}/messages", 1.5)
    fake.inject_429(lambda r: r.path == "/users/@me", 0.25, global_=True, count=2)
    answer = await raw.send(channel, {"content": "x"})
    assert answer.status == 429 and answer.body == {
        "message": "You are being rate limited.",
        "retry_after": 1.5,
        "global": False,
    }
    assert answer.headers["Retry-After"] == "2" and answer.headers["Via"] == "1.1 google"
    for _ in range(2):
        limited = await raw.request("GET", "/users/@me")
        assert limited.status == 429 and limited.body["global"] is True
        assert limited.headers["X-RateLimit-Global"] == "true"
    assert (await raw.request("GET", "/users/@me")).status == 200
    assert (await raw.send(channel, {"content": "x"})).status == 200
    assert fake.served_429s == 3


async def test_gateway_heartbeat_chunks_and_bad_resume(raw: RawClient) -> None:
    """Heartbeat → ACK; op 8 → every member in GUILD_MEMBERS_CHUNK; unknown RESUME → op 9."""
    fake = raw.fake
    assert raw.hello["op"] == 10 and raw.hello["d"]["heartbeat_interval"] > 0
    assert raw.ready["t"] == "READY" and raw.ready["d"]["resume_gateway_url"] == fake.gateway_url
    assert raw.guild_create["t"] == "GUILD_CREATE"
    assert raw.guild_create["d"]["member_count"] == len(fake.world.members)
    await raw.ws.send_json({"op": 1, "d": 2})
    assert (await raw.ws.receive_json(timeout=5))["op"] == 11
    guild_id = str(fake.world.guild_id)
    await raw.ws.send_json(
        {"op": 8, "d": {"guild_id": guild_id, "query": "", "limit": 0, "nonce": "n1"}}
    )
    chunk = await raw.ws.receive_json(timeout=5)
    assert chunk["t"] == "GUILD_MEMBERS_CHUNK" and chunk["d"]["nonce"] == "n1"
    assert len(chunk["d"]["members"]) == len(fake.world.members)
    async with raw.session.ws_connect(fake.gateway_url) as other:
        await other.receive_json(timeout=5)
        await other.send_json({"op": 6, "d": {"token": fake.token, "session_id": "x", "seq": 1}})
        assert (await other.receive_json(timeout=5))["op"] == 9


async def test_identify_with_a_wrong_token_is_closed_4004(fake_discord: FakeDiscord) -> None:
    """IDENTIFY with a wrong token: the socket is closed with 4004."""
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(fake_discord.gateway_url) as ws,
    ):
        await ws.receive_json(timeout=5)
        await ws.send_json({"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}})
        await ws.receive(timeout=5)
        assert ws.close_code == 4004
    assert not fake_discord.identified.is_set()
