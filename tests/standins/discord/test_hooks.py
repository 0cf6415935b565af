"""Fault injection: on_request runs an action just before or just after the answer goes out."""

from __future__ import annotations

import asyncio

from imagine_standins.discord.records import RecordedRequest
from tests.standins.discord.testclient import RawClient

POST_MESSAGE = "POST /channels/{channel_id}/messages"


async def test_before_runs_once_the_message_is_stored_and_holds_the_answer(
    raw: RawClient,
) -> None:
    """'before': the message exists, the answer is decided but not sent until the action ends."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    release, running = asyncio.Event(), asyncio.Event()
    seen: list[tuple[int | None, int | None, int]] = []

    async def action(rec: RecordedRequest) -> None:
        seen.append((rec.status, rec.outcome, len(fake.messages_in(channel))))
        running.set()
        await release.wait()

    hook = fake.on_request(POST_MESSAGE, when="before", action=action)
    sending = asyncio.ensure_future(raw.send(channel, {"content": "hi"}))
    await asyncio.wait_for(running.wait(), 5)
    assert seen == [(None, 200, 1)]  # stored, answer decided, not sent
    await asyncio.sleep(0.05)
    assert not sending.done()
    release.set()
    answer = await sending
    assert answer.status == 200
    assert (await hook.wait()).key == POST_MESSAGE
    assert hook.fired[0].status == 200


async def test_after_runs_once_the_client_has_the_answer(raw: RawClient) -> None:
    """'after': the client already holds the answer while the action is still running."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    release = asyncio.Event()

    async def action(rec: RecordedRequest) -> None:
        await release.wait()

    hook = fake.on_request(POST_MESSAGE, when="after", action=action)
    answer = await asyncio.wait_for(raw.send(channel, {"content": "hi"}), 5)
    assert answer.status == 200
    assert hook.fired and not hook.done.is_set()
    release.set()
    await hook.wait()


async def test_times_predicates_and_refusals(raw: RawClient) -> None:
    """times bounds the firings; a predicate sees the outcome, refusals included."""
    fake, channel = raw.fake, raw.fake.world.channel.id
    calls: list[str] = []
    once = fake.on_request(POST_MESSAGE, action=lambda r: calls.append("once"))
    every = fake.on_request(
        lambda r: r.route == "/channels/{channel_id}/messages" and r.outcome == 400,
        when="after",
        action=lambda r: calls.append("refused"),
        times=None,
    )
    assert (await raw.send(channel, {"content": "a"})).status == 200
    assert (await raw.send(channel, {"content": "b"})).status == 200
    for _ in range(2):
        assert (await raw.send(channel, {})).status == 400  # empty message
    assert calls == ["once", "refused", "refused"]
    assert len(once.fired) == 1 and len(every.fired) == 2
    fake.inject_429(POST_MESSAGE, 0.5)
    limited = fake.on_request(lambda r: r.outcome == 429, action=lambda r: calls.append("429"))
    assert (await raw.send(channel, {"content": "c"})).status == 429
    assert calls[-1] == "429" and limited.fired[0].outcome == 429


async def test_a_failing_action_never_changes_the_answer(raw: RawClient) -> None:
    """An action that raises is recorded; the request is answered as without the hook."""
    fake, channel = raw.fake, raw.fake.world.channel.id

    def broken(rec: RecordedRequest) -> None:
        raise RuntimeError("boom")

    hook = fake.on_request(POST_MESSAGE, action=broken)
    assert (await raw.send(channel, {"content": "a"})).status == 200
    assert [str(e) for e in hook.errors] == ["boom"]
    assert [str(e) for e in fake.errors] == ["boom"]
    fake.errors.clear()  # the fixture fails on stand-in errors
