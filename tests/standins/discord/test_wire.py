"""The stand-in's JSON (imagine_standins/discord/wire.py): compact UTF-8, and no encoder quirks."""

from __future__ import annotations

import dataclasses

import aiohttp
import pytest

from imagine_standins.discord.wire import dumps, loads
from tests.standins.discord.testclient import RawClient


def test_dumps_is_compact_utf8_like_discord() -> None:
    """No spaces after separators, non-ASCII as UTF-8 (Discord escapes neither)."""
    assert dumps({"a": [1, "é…"], "b": None}) == '{"a":[1,"é…"],"b":null}'.encode()


@pytest.mark.parametrize("number", [2**64, 2**70 + 1, -(2**63) - 1, 2**64 - 1, -(2**63)])
def test_integers_stay_integers_whatever_their_size(number: int) -> None:
    """orjson reads integers outside 64 bits as floats; these are ints, as json.loads has them."""
    for text in (dumps({"n": number}), dumps({"n": number}).decode()):
        parsed = loads(text)["n"]
        assert type(parsed) is int and parsed == number


def test_what_orjson_refuses_is_read_as_json_loads_reads_it() -> None:
    """NaN and lone surrogates: json.loads takes them, so the stand-in does too."""
    nan = loads(b"[NaN]")[0]
    assert nan != nan
    assert loads(b'["\\ud800"]') == ["\ud800"]


def test_what_is_not_json_is_refused() -> None:
    """A dataclass is not serialised (TypeError, as json.dumps); bad text is a ValueError."""

    @dataclasses.dataclass
    class Thing:
        x: int

    with pytest.raises(TypeError):
        dumps(Thing(1))
    with pytest.raises(ValueError):
        loads(b"{not json")


async def test_answers_and_frames_are_compact_json(raw: RawClient) -> None:
    """A REST answer's body and a gateway dispatch are compact JSON text."""
    headers = {"Authorization": f"Bot {raw.fake.token}"}
    url = raw.fake.api_base_url + "/users/@me"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        text = await response.text()
    assert text.startswith('{"id":"') and '", "' not in text and '": ' not in text
    record = await raw.fake.send_slash_command(raw.fake.world.alice, "draw")
    frame = await raw.ws.receive_str(timeout=5)
    assert frame.startswith(f'{{"op":0,"d":{{"id":"{record.id}",')
    assert '", "' not in frame and '": ' not in frame


async def test_an_integer_past_64_bits_is_refused_as_a_nonce_not_as_bad_json(
    raw: RawClient,
) -> None:
    """orjson cannot read 2**64; the body is still JSON, so Discord's 50035 answers it."""
    channel = raw.fake.world.channel.id
    answer = await raw.send(channel, {"content": "hi", "nonce": 2**64})
    assert (answer.status, answer.code) == (400, 50035)
    assert answer.error_at("nonce")[0]["code"] == "NUMBER_TYPE_MAX"
