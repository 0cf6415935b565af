"""JSON on the Discord stand-in's wire: REST bodies, gateway frames, multipart payload_json.

orjson, as ``bench/line_bench.py`` needs: the standard library's encoder and decoder were
about a tenth of the stand-in's CPU at 500 /imagine a second. What it writes is compact
UTF-8, as Discord's own answers and frames are. Both directions fall back to the standard
library for what orjson refuses or reads differently and ``json`` takes (integers beyond 64
bits, ``NaN``, lone surrogates), so that what the stand-in accepts or answers never depends on
the encoder.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

__all__ = ["dumps", "loads"]

# Dataclasses and datetimes are not JSON: refuse them as ``json.dumps`` does (a payload
# builder that lets one through is a bug in the stand-in, not something to serialise).
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS
_OPTIONS |= orjson.OPT_PASSTHROUGH_DATETIME


def dumps(value: Any) -> bytes:
    """Return ``value`` as compact UTF-8 JSON."""
    try:
        return orjson.dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return json.dumps(value, separators=(",", ":")).encode()


# orjson reads an integer outside [-2**63, 2**64) as a float: text that may hold one (a run
# of 20 digits, or of 19 after a minus sign) is left to the standard library, which keeps it
# an int (a nonce of 2**64 is then refused as too large, as Discord does, not as a float).
_LONG_INTEGER = re.compile(r"\d{20}|-\d{19}")
_LONG_INTEGER_BYTES = re.compile(_LONG_INTEGER.pattern.encode())


def loads(raw: bytes | str) -> Any:
    """Parse JSON text as ``json.loads`` does; ValueError when it is not JSON."""
    found = _LONG_INTEGER.search(raw) if isinstance(raw, str) else _LONG_INTEGER_BYTES.search(raw)
    if found is None:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # json.loads raises it, or reads what orjson refuses (NaN, lone surrogates)
    return json.loads(raw)
