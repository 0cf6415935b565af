"""Read kie's JSON text exactly and safely, and quote a body briefly in an error message.

Numbers with a fraction or exponent become exact ``Decimal`` (never float), and nesting deeper
than :data:`MAX_JSON_DEPTH` is refused before ``json.loads`` could recurse (docs/kie-api.md §4).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JsonTooDeep", "decode_json", "snippet"]

# kie's deepest body is {"data": {…}} with JSON *strings* inside; 32 leaves ample room.
MAX_JSON_DEPTH = 32
_SNIPPET_CHARS = 200
# The only characters that matter when counting depth outside strings.
_DEPTH_SIGNIFICANT = re.compile(r'["\\\[\]{}]')


class JsonTooDeep(ValueError):
    """The JSON text nests arrays and objects deeper than allowed."""


def _depth_ok(text: str, max_depth: int) -> bool:
    """Return False when brackets outside strings nest deeper than ``max_depth``.

    One linear pass that never recurses, run before json.loads (which recurses once per level
    and can end in RecursionError). Malformed text is left for json.loads to refuse.
    """
    depth = 0
    in_string = False
    escaped_at = -1  # the index of the character a backslash escapes
    for match in _DEPTH_SIGNIFICANT.finditer(text):
        at = match.start()
        if at == escaped_at:
            continue
        char = text[at]
        if in_string:
            if char == "\\":
                escaped_at = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                return False
        elif char in "]}":
            depth -= 1
    return True


def decode_json(body: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Decode JSON with exact decimals, refusing nesting deeper than ``max_depth``.

    Numbers with a fraction or an exponent become ``Decimal`` (``0.8`` stays exactly 0.8);
    integers stay ``int``; ``NaN`` and ``Infinity`` become ``Decimal`` too, for the readers to
    refuse. Bytes must be UTF-8. Raises :class:`JsonTooDeep` or another ``ValueError``.
    """
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    if not _depth_ok(text, max_depth):
        raise JsonTooDeep(f"JSON nests deeper than {max_depth} levels")
    return json.loads(text, parse_float=Decimal, parse_constant=Decimal)


def snippet(text: str) -> str:
    """Shorten a body to one readable line for an error message."""
    flat = " ".join(text.split())
    if len(flat) > _SNIPPET_CHARS:
        return flat[:_SNIPPET_CHARS] + "…"
    return flat or "<empty body>"
