"""Message nonces (``enforce_nonce``) and channel history, as Discord documents them."""

from __future__ import annotations

import pytest

from imagine_standins.discord.world import Perm
from tests.standins.discord.testclient import RawClient


@pytest.fixture(autouse=True)
def roomy_rate_limits(raw: RawClient) -> None:
    """These tests post more than Discord's 5 messages per 5 s in one channel."""
    raw.fake.rate_limits["message_create"] = (100, 5.0)


async def test_enforced_nonce_returns_the_earlier_message(raw: RawClient) -> None:
    """Same nonce, same author and channel, within minutes → that message again, nothing new."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    body = {"content": "part 1", "nonce": "job1234:part0", "enforce_nonce": True}
    first = await raw.send(channel, body)
    assert first.status == 200 and first.body["nonce"] == "job1234:part0"
    again = await raw.send(channel, {**body, "content": "part 1 (resent)"})
    assert again.status == 200
    assert again.body["id"] == first.body["id"] and again.body["content"] == "part 1"
    assert again.body["nonce"] == "job1234:part0"
    assert [m.content for m in fake.messages_in(channel)] == ["part 1"]


async def test_nonce_without_enforce_or_elsewhere_creates_new_messages(raw: RawClient) -> None:
    """Without enforce_nonce, in another channel, or after the window: a new message each time."""
    fake, world = raw.fake, raw.fake.world
    plain = {"content": "x", "nonce": 42}
    ids = {(await raw.send(world.channel.id, plain)).body["id"] for _ in range(2)}
    assert len(ids) == 2
    enforced = {"content": "y", "nonce": 7, "enforce_nonce": True}
    here = await raw.send(world.channel.id, enforced)
    there = await raw.send(world.other_channel.id, enforced)
    assert here.body["id"] != there.body["id"]
    fake.advance_time(fake.nonce_window + 1)
    later = await raw.send(world.channel.id, enforced)
    assert later.status == 200 and later.body["id"] != here.body["id"]
    assert len(fake.messages_in(world.channel)) == 4


async def test_enforced_nonce_of_a_deleted_message_is_unknown_message(raw: RawClient) -> None:
    """discord.py documents NotFound for a nonce whose message was deleted shortly before."""
    channel = raw.fake.world.channel.id
    body = {"content": "z", "nonce": "gone", "enforce_nonce": True}
    first = await raw.send(channel, body)
    deleted = await raw.request("DELETE", f"/channels/{channel}/messages/{first.body['id']}")
    assert deleted.status == 204
    again = await raw.send(channel, body)
    assert (again.status, again.code) == (404, 10008)


@pytest.mark.parametrize(
    "nonce",
    ["n" * 26, 2**63, 1.5, True, ["a"]],
    ids=["26 chars", "over int64", "float", "bool", "list"],
)
async def test_bad_nonces_are_invalid_form_body(raw: RawClient, nonce: object) -> None:
    """A nonce is an int64 or a string of at most 25 characters."""
    answer = await raw.send(
        raw.fake.world.channel.id, {"content": "x", "nonce": nonce, "enforce_nonce": True}
    )
    assert (answer.status, answer.code) == (400, 50035)
    assert answer.error_at("nonce")
    assert raw.fake.messages_in(raw.fake.world.channel) == []


async def test_twenty_five_characters_and_int64_are_accepted(raw: RawClient) -> None:
    """The limits are inclusive."""
    channel = raw.fake.world.channel.id
    for nonce in ("n" * 25, 2**63 - 1, -(2**63)):
        answer = await raw.send(channel, {"content": "x", "nonce": nonce, "enforce_nonce": True})
        assert answer.status == 200, answer.body


async def test_history_is_newest_first_with_embeds_and_components(raw: RawClient) -> None:
    """History lists channel and webhook messages, newest first; never ephemeral or deleted."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    interaction = await raw.command()
    await raw.callback(interaction, {"type": 5, "data": {"flags": 64}})
    await raw.followup(interaction, {"content": "private"})  # resolves the ephemeral deferral
    public = await raw.followup(
        interaction,
        {
            "content": "result",
            "embeds": [{"title": "Imagined"}],
            "components": [
                {
                    "type": 1,
                    "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": "go"}],
                }
            ],
        },
        files=[("a.png", b"\x89PNG....")],
    )
    posted = [public.body["id"]]
    for n in range(3):
        posted.append((await raw.send(channel, {"content": f"m{n}"})).body["id"])
    deleted = (await raw.send(channel, {"content": "deleted"})).body["id"]
    await raw.request("DELETE", f"/channels/{channel}/messages/{deleted}")

    listed = await raw.request("GET", f"/channels/{channel}/messages")
    assert listed.status == 200
    assert [m["id"] for m in listed.body] == posted[::-1]
    webhook_message = listed.body[-1]
    assert webhook_message["embeds"][0]["title"] == "Imagined"
    assert webhook_message["components"][0]["components"][0]["custom_id"] == "go"
    assert webhook_message["attachments"][0]["filename"] == "a.png"
    assert webhook_message["webhook_id"] == str(fake.world.application_id)
    assert "nonce" not in webhook_message


async def test_history_limit_before_after_around(raw: RawClient) -> None:
    """limit, before, after and around pick the pages Discord would."""
    channel = raw.fake.world.channel.id
    ids = [int((await raw.send(channel, {"content": f"m{n}"})).body["id"]) for n in range(7)]

    async def page(**query: object) -> list[int]:
        answer = await raw.request(
            "GET", f"/channels/{channel}/messages", params={k: str(v) for k, v in query.items()}
        )
        assert answer.status == 200, answer.body
        return [int(m["id"]) for m in answer.body]

    assert await page(limit=2) == [ids[6], ids[5]]
    assert await page(before=ids[3], limit=2) == [ids[2], ids[1]]
    assert await page(before=ids[3]) == [ids[2], ids[1], ids[0]]
    assert await page(after=ids[3], limit=2) == [ids[5], ids[4]]
    assert await page(after=ids[3]) == [ids[6], ids[5], ids[4]]
    assert await page(around=ids[3], limit=3) == [ids[4], ids[3], ids[2]]
    assert await page(around=ids[3], limit=1) == [ids[3]]
    assert await page(around=ids[0], limit=4) == [ids[1], ids[0]]


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"before": "1", "after": "2"}],
    ids=["limit 0", "limit 101", "limit not a number", "two anchors"],
)
async def test_bad_history_queries_are_invalid_form_body(
    raw: RawClient, query: dict[str, str]
) -> None:
    """limit is 1-100; around, before and after are mutually exclusive."""
    channel = raw.fake.world.channel.id
    answer = await raw.request("GET", f"/channels/{channel}/messages", params=query)
    assert (answer.status, answer.code) == (400, 50035)


async def test_history_needs_view_channel_and_read_message_history(raw: RawClient) -> None:
    """No VIEW_CHANNEL → 50001 Missing Access; no READ_MESSAGE_HISTORY → an empty list."""
    world, channel = raw.fake.world, raw.fake.world.channel
    await raw.send(channel.id, {"content": "hello"})
    path = f"/channels/{channel.id}/messages"
    channel.overwrites[world.bot_user.id] = (1, 0, Perm.READ_MESSAGE_HISTORY)
    answer = await raw.request("GET", path)
    assert (answer.status, answer.body) == (200, [])
    channel.overwrites[world.bot_user.id] = (1, 0, Perm.VIEW_CHANNEL)
    answer = await raw.request("GET", path)
    assert (answer.status, answer.code) == (403, 50001)
    del channel.overwrites[world.bot_user.id]
    assert len((await raw.request("GET", path)).body) == 1
