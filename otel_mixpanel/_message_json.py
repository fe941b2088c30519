"""Encoding the messages the exporters build: orjson when installed, else stdlib.

The mapping hands over only JSON types (strings, finite numbers, booleans,
None, lists and string-keyed dicts), so both encoders give the same JSON
document; orjson (the ``fast`` extra) is several times quicker. A message
orjson refuses (a lone surrogate, an integer beyond 64 bits) is encoded by
the standard library instead, as it would be without orjson.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ._serialization import json_dumps

_orjson_dumps: Optional[Callable[[Any], bytes]]
try:
    from orjson import dumps as _orjson_dumps
except ImportError:  # the standard library does the work
    _orjson_dumps = None

#: Which encoder :func:`encode_message` uses first.
ENCODER = "orjson" if _orjson_dumps is not None else "json"


def encode_message(message: Any) -> str:
    """Encode one mapped message as compact JSON text."""
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(message).decode("utf-8")
        except TypeError:  # orjson.JSONEncodeError; the stdlib decides
            pass
    return json_dumps(message)
