"""Attachments as Discord has them: option uploads in ``resolved.attachments``, signed CDN links."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from imagine_standins.discord.cdn import GONE, LINK_LIFETIME, Upload
from tests.standins.discord.testclient import RawClient

IMAGE_OPTION = {"type": 11, "name": "image", "description": "a picture"}


def png(width: int = 32, height: int = 24) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def sync_draw(raw: RawClient) -> None:
    """Register /draw with a required prompt and two optional attachments."""
    app = raw.fake.world.application_id
    options = [
        {"type": 3, "name": "prompt", "description": "p", "required": True},
        IMAGE_OPTION,
        {**IMAGE_OPTION, "name": "image2"},
    ]
    answer = await raw.request(
        "PUT",
        f"/applications/{app}/commands",
        json_body=[{"name": "draw", "description": "d", "options": options}],
    )
    assert answer.status == 200, answer.body


async def get(raw: RawClient, url: str, **headers: str) -> tuple[int, bytes, Any]:
    async with raw.session.get(url, headers=headers) as response:
        return response.status, await response.read(), response.headers


async def test_an_attachment_option_arrives_resolved_and_is_served(raw: RawClient) -> None:
    """The option's value is the id; resolved.attachments describes the file as Discord does."""
    await sync_draw(raw)
    data = png(40, 30)
    record = await raw.command(
        name="draw",
        options={
            "prompt": "x",
            "image": Upload("cat.png", data),
            "image2": Upload("notes.txt", b"hello"),
        },
    )
    payload = record.payload["data"]
    values = {o["name"]: o["value"] for o in payload["options"]}
    first = payload["resolved"]["attachments"][values["image"]]
    assert first["id"] == values["image"]
    assert first["filename"] == "cat.png" and first["size"] == len(data)
    assert first["content_type"] == "image/png" and first["ephemeral"] is True
    assert (first["width"], first["height"]) == (40, 30)
    assert first["proxy_url"] == first["url"]
    assert "/ephemeral-attachments/" in first["url"]
    query = parse_qs(urlsplit(first["url"]).query)
    expires, issued = int(query["ex"][0], 16), int(query["is"][0], 16)
    assert expires - issued == LINK_LIFETIME and len(query["hm"][0]) == 64
    second = payload["resolved"]["attachments"][values["image2"]]
    assert second["content_type"] == "text/plain" and "width" not in second
    status, body, headers = await get(raw, first["url"])
    assert (status, body, headers["Content-Type"]) == (200, data, "image/png")


async def test_the_content_type_follows_the_name_unless_declared(raw: RawClient) -> None:
    """A GIF named .png is image/png to Discord; the bytes are what they are."""
    await sync_draw(raw)
    gif = io.BytesIO()
    Image.new("RGB", (20, 20)).save(gif, "GIF")
    record = await raw.command(
        name="draw",
        options={"prompt": "x", "image": Upload("lie.png", gif.getvalue())},
    )
    [described] = record.payload["data"]["resolved"]["attachments"].values()
    assert described["content_type"] == "image/png" and described["width"] == 20
    declared = await raw.command(
        name="draw",
        options={"prompt": "x", "image": Upload("x", png(), content_type="image/webp")},
    )
    [described] = declared.payload["data"]["resolved"]["attachments"].values()
    assert described["content_type"] == "image/webp"


async def test_links_hold_only_while_signed_and_unexpired(raw: RawClient) -> None:
    """A tampered or unsigned link, an expired one, and a forgotten file are all 404."""
    await sync_draw(raw)
    record = await raw.command(
        name="draw", options={"prompt": "x", "image": Upload("a.png", png())}
    )
    [described] = record.payload["data"]["resolved"]["attachments"].values()
    url = described["url"]
    bare = url.split("?")[0]
    tampered = url.replace("hm=", "hm=0")
    for bad in (bare, tampered):
        status, body, _ = await get(raw, bad)
        assert (status, body.decode()) == (404, GONE)
    assert (await get(raw, url))[0] == 200
    raw.fake.advance_time(LINK_LIFETIME + 1)
    assert (await get(raw, url))[0] == 404
    fresh = raw.fake.cdn.refresh(url)
    assert (await get(raw, fresh))[0] == 200
    raw.fake.cdn.forget(int(described["id"]))
    assert (await get(raw, fresh))[0] == 404


async def test_a_range_request_gets_part_of_the_file(raw: RawClient) -> None:
    """The CDN answers Range with 206 and Content-Range, as a peek at the head expects."""
    await sync_draw(raw)
    data = png()
    record = await raw.command(name="draw", options={"prompt": "x", "image": Upload("a.png", data)})
    [described] = record.payload["data"]["resolved"]["attachments"].values()
    status, body, headers = await get(raw, described["url"], Range="bytes=0-7")
    assert (status, body) == (206, data[:8])
    assert headers["Content-Range"] == f"bytes 0-7/{len(data)}"


async def test_message_attachments_are_signed_afresh_and_die_with_the_message(
    raw: RawClient,
) -> None:
    """Each served payload carries a newly signed link; a deleted message's file is gone."""
    channel = raw.fake.world.channel.id
    posted = await raw.request(
        "POST",
        f"/channels/{channel}/messages",
        json_body={"content": "pic", "attachments": [{"id": 0, "filename": "p.png"}]},
        files=[("p.png", png())],
    )
    assert posted.status == 200, posted.body
    [attachment] = posted.body["attachments"]
    raw.fake.advance_time(LINK_LIFETIME + 5)
    assert (await get(raw, attachment["url"]))[0] == 404
    again = await raw.request("GET", f"/channels/{channel}/messages/{posted.body['id']}")
    [renewed] = again.body["attachments"]
    assert renewed["url"] != attachment["url"]
    assert (await get(raw, renewed["url"]))[0] == 200
    deleted = await raw.request("DELETE", f"/channels/{channel}/messages/{posted.body['id']}")
    assert deleted.status == 204
    assert (await get(raw, renewed["url"]))[0] == 404
