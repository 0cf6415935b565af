"""Discord's CDN in the stand-in: files attached to messages and to slash-command options.

As on Discord, every attachment link is signed: ``?ex=<hex>&is=<hex>&hm=<hex>&``, ``ex`` the
Unix second it stops working (``LINK_LIFETIME`` after ``is``, when it was issued) and ``hm``
an HMAC over the path and both times. A link whose signature is missing or wrong, or that is
used after ``ex``, is answered 404 "This content is no longer available." — so is a file whose
message was deleted, or one ``forget`` took off. Message payloads carry freshly signed links
each time they are served, as Discord's do. ``Range`` requests are answered 206.

A file a member attaches to a slash-command option (``Upload``) becomes an *ephemeral*
attachment: served under ``/ephemeral-attachments/…`` and described in the interaction's
``resolved.attachments`` (id, filename, size, url, proxy_url, content_type, width, height,
``ephemeral: true``). Discord takes the content type from the file's name unless the client
declared one, and reads the pixel size from the bytes when they are an image.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import mimetypes
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from aiohttp import web

from imagine_standins.discord.records import StoredAttachment

__all__ = ["GONE", "LINK_LIFETIME", "Cdn", "Upload", "describe_file"]

LINK_LIFETIME = 24 * 3600
GONE = "This content is no longer available."
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class Upload:
    """A file a member attaches to a slash-command option (an ATTACHMENT option's value)."""

    filename: str
    data: bytes
    #: What the member's client declared; None: Discord goes by the file's name.
    content_type: str | None = None


def describe_file(
    filename: str, data: bytes, declared: str | None
) -> tuple[str | None, int | None, int | None]:
    """Return (content_type, width, height) as Discord reports an uploaded file."""
    content_type = declared or mimetypes.guess_type(filename)[0]
    width = height = None
    if content_type and content_type.startswith("image/"):
        with contextlib.suppress(Exception):
            from PIL import Image

            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    return content_type, width, height


class Cdn:
    """Signs attachment links, keeps option uploads, and serves files while links hold."""

    def __init__(
        self,
        *,
        base_url: Callable[[], str],
        now: Callable[[], float],
        lifetime: float = LINK_LIFETIME,
    ) -> None:
        self._base_url = base_url
        self._now = now
        self.lifetime = lifetime
        self._key = secrets.token_bytes(32)
        #: Files attached to slash-command options, by attachment id.
        self.uploads: dict[int, StoredAttachment] = {}
        #: Attachment ids whose file is gone (``forget``).
        self.gone: set[int] = set()

    # ------------------------------------------------------------------ links
    def _mac(self, path: str, expires: int, issued: int) -> str:
        message = f"{path}|{expires:x}|{issued:x}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sign(self, path: str) -> str:
        """Return the full, signed link to ``path`` (``/attachments/…``), valid from now."""
        issued = int(self._now())
        expires = issued + int(self.lifetime)
        mac = self._mac(path, expires, issued)
        return f"{self._base_url()}{path}?ex={expires:x}&is={issued:x}&hm={mac}&"

    def refresh(self, url: str) -> str:
        """Return ``url`` signed anew (as a message payload served now carries it)."""
        return self.sign(urlsplit(url).path)

    def valid(self, path: str, query: str) -> bool:
        """Return True if the signature on ``path`` holds and the link has not expired."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        try:
            expires, issued = int(params["ex"], 16), int(params["is"], 16)
        except (KeyError, ValueError):
            return False
        good = hmac.compare_digest(params.get("hm", ""), self._mac(path, expires, issued))
        return good and self._now() < expires

    # ------------------------------------------------------------------ files
    def attach(self, attachment_id: int, channel_id: int, upload: Upload) -> StoredAttachment:
        """Store a file a member attached to a slash-command option, as an ephemeral one."""
        content_type, width, height = describe_file(
            upload.filename, upload.data, upload.content_type
        )
        path = f"/ephemeral-attachments/{channel_id}/{attachment_id}/{quote(upload.filename)}"
        stored = StoredAttachment(
            attachment_id,
            upload.filename,
            len(upload.data),
            content_type,
            upload.data,
            self.sign(path),
            width=width,
            height=height,
            ephemeral=True,
        )
        self.uploads[attachment_id] = stored
        return stored

    def forget(self, attachment_id: int) -> None:
        """Take a file off the CDN: every link to it answers 404 from now on."""
        self.gone.add(attachment_id)

    async def serve(self, request: web.Request, posted: Iterable[StoredAttachment]) -> web.Response:
        """Answer a GET of an attachment link; ``posted`` are the live messages' attachments."""
        attachment_id = int(request.match_info["attachment_id"])
        if not self.valid(request.path, request.query_string) or attachment_id in self.gone:
            return web.Response(status=404, text=GONE)
        found = self.uploads.get(attachment_id) or next(
            (a for a in posted if a.id == attachment_id), None
        )
        if found is None:
            return web.Response(status=404, text=GONE)
        headers = {"Content-Type": found.content_type or "application/octet-stream"}
        body = found.data
        wanted = _RANGE.match(request.headers.get("Range", ""))
        if wanted and int(wanted[1]) < len(body):
            start = int(wanted[1])
            end = min(int(wanted[2]) if wanted[2] else len(body) - 1, len(body) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
            return web.Response(status=206, body=body[start : end + 1], headers=headers)
        return web.Response(body=body, headers=headers)
