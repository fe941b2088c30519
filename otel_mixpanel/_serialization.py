"""JSON encoding of Mixpanel messages: compact, strict, and fast on the happy path.

Encoders are cached per serializer class. When a message cannot become valid
JSON, a second pass names the offending path (never the value) for the error.
"""

from __future__ import annotations

import datetime
import decimal
import json
import math
import uuid
from json import encoder as _json_encoder
from typing import Any, Callable, Optional, Type, Union

from ._errors import MixpanelException

_SEPARATORS = (",", ":")
_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)
_MAX_CACHED_ENCODERS = 64
_MAX_DEFAULT_CHAIN = 16
_MAX_KEY_TEXT = 100
ROOT_PATH = "<root>"

_Encode = Callable[[Any], str]
_encoders: dict[Optional[type], _Encode] = {}


class DatetimeSerializer(json.JSONEncoder):
    """The default serializer: dates, decimals and UUIDs on top of plain JSON.

    A naive ``datetime`` becomes ``YYYY-MM-DDTHH:MM:SS`` exactly as the
    reference client writes it; an aware one is converted to UTC first and then
    written the same way. Microseconds are dropped, as the reference does, so
    that the strings Mixpanel stores keep one format whichever client sent
    them. A ``date`` becomes ``YYYY-MM-DD``, a finite ``Decimal`` a float and a
    ``UUID`` its canonical string. Anything else raises json's ``TypeError``;
    a NaN or infinite ``Decimal`` raises ``ValueError`` like a float would.
    """

    def default(self, o: Any) -> Any:
        """Return a JSON-encodable stand-in for ``o`` or raise."""
        if isinstance(o, datetime.datetime):
            if o.utcoffset() is not None:
                o = o.astimezone(datetime.timezone.utc).replace(tzinfo=None)
            return o.strftime(_DATETIME_FORMAT)
        if isinstance(o, datetime.date):
            return o.isoformat()
        if isinstance(o, decimal.Decimal):
            number = float(o)
            if not math.isfinite(number):
                raise ValueError("Out of range Decimal values are not JSON compliant")
            return number
        if isinstance(o, uuid.UUID):
            return str(o)
        return super().default(o)


def json_dumps(data: Any, cls: Optional[Type[json.JSONEncoder]] = None) -> str:
    """Encode ``data`` as compact JSON with the serializer class ``cls``.

    Output matches the reference client's for valid data. Unlike the
    reference, NaN and infinities raise ``ValueError`` instead of producing
    ``NaN``, which no JSON parser (and not Mixpanel) accepts.
    """
    encode = _encoders.get(cls)
    if encode is None:
        encode = _new_encoder(cls)
    return encode(data)


def dumps_message(message: Any, cls: Optional[Type[json.JSONEncoder]]) -> str:
    """Encode a message, or raise ``MixpanelException`` naming the bad path.

    The common case costs one encode. Only when encoding fails is the message
    walked to find the first key whose value (or key) cannot be JSON; the
    exception names that path, e.g. ``properties['score']``, never the value.
    """
    encode = _encoders.get(cls)
    if encode is None:
        encode = _new_encoder(cls)
    try:
        return encode(message)
    except _ENCODE_ERRORS as error:
        found = _find_invalid(message, cls)
        if found is None:
            detail = f"the message cannot be encoded as JSON ({type(error).__name__})"
        else:
            detail = f"{found[0]} {found[1]}"
    raise MixpanelException(f"Cannot send the message: {detail}")


def find_invalid_path(
    obj: Any, cls: Optional[Type[json.JSONEncoder]] = DatetimeSerializer
) -> Optional[str]:
    """Return the path of the first part of ``obj`` that cannot be JSON, or None.

    Top-level keys are written bare, deeper ones in brackets:
    ``properties['score']``, ``$set['tags'][2]``; a key that cannot be a JSON
    key is shown by its type (``properties[<tuple key>]``). ``"<root>"`` means
    ``obj`` itself is the problem. ``cls`` is the serializer whose ``default``
    is tried on unknown types (``DatetimeSerializer`` unless told otherwise).
    """
    found = _find_invalid(obj, cls)
    return None if found is None else found[0]


def _new_encoder(cls: Optional[Type[json.JSONEncoder]]) -> _Encode:
    """Build, cache and return the encode function for a serializer class."""
    factory = json.JSONEncoder if cls is None else cls
    instance = factory(separators=_SEPARATORS, allow_nan=False)
    encode: _Encode = instance.encode
    plain = (
        factory.encode is json.JSONEncoder.encode
        and factory.iterencode is json.JSONEncoder.iterencode
    )
    if plain and instance.ensure_ascii:
        encode = _stateless_c_encoder(instance) or encode

    if len(_encoders) >= _MAX_CACHED_ENCODERS:
        _encoders.clear()
    _encoders[cls] = encode
    return encode


def _stateless_c_encoder(instance: json.JSONEncoder) -> Optional[_Encode]:
    """Return a reusable C-accelerated encode for ``instance``, if available.

    Without a circular-reference table the C encoder keeps no state between
    calls, so one instance serves every thread. A cycle then surfaces as
    RecursionError, which the slow path reports as a cycle. Any surprise from
    the private C API (absent, different signature, different output) falls
    back to ``instance.encode``.
    """
    make_c_encoder = getattr(_json_encoder, "c_make_encoder", None)
    if make_c_encoder is None:
        return None
    try:
        c_encoder = make_c_encoder(
            None,
            instance.default,
            _json_encoder.encode_basestring_ascii,
            None,
            _SEPARATORS[1],
            _SEPARATORS[0],
            instance.sort_keys,
            instance.skipkeys,
            False,
        )
        sample = {"a": [1, 2.5, None, True, "\u00e9"], "b": {}}
        if "".join(c_encoder(sample, 0)) != instance.encode(sample):
            return None
    except Exception:  # the private API changed: use the public path
        return None

    def encode(data: Any) -> str:
        if isinstance(data, str):
            return instance.encode(data)
        return "".join(c_encoder(data, 0))

    return encode


def _find_invalid(
    obj: Any, cls: Optional[Type[json.JSONEncoder]]
) -> Optional[tuple[str, str]]:
    """Walk ``obj`` depth first; return ``(path, reason)`` for the first problem."""
    factory = json.JSONEncoder if cls is None else cls
    default = factory(separators=_SEPARATORS, allow_nan=False).default
    on_path: set[int] = set()
    # Entries are (value, path, leaving); "leaving" pops a container off the path.
    stack: list[tuple[Any, str, bool]] = [(obj, "", False)]
    while stack:
        value, path, leaving = stack.pop()
        if leaving:
            on_path.discard(id(value))
            continue
        value, reason = _resolve(value, default)
        if reason is None and isinstance(value, (dict, list, tuple)):
            if id(value) in on_path:
                reason = "is a circular reference"
            else:
                on_path.add(id(value))
                stack.append((value, path, True))
                children = _children(value, path)
                if isinstance(children, str):
                    return children, "is a key JSON cannot encode"
                stack.extend(reversed(children))
        if reason is not None:
            return path or ROOT_PATH, reason
    return None


def _resolve(value: Any, default: Callable[[Any], Any]) -> tuple[Any, Optional[str]]:
    """Apply the serializer's ``default`` until ``value`` is a JSON type."""
    for _ in range(_MAX_DEFAULT_CHAIN):
        if value is None or isinstance(value, (str, dict, list, tuple)):
            return value, None
        if isinstance(value, int):
            try:
                int.__repr__(value)
            except ValueError:
                return value, "is an integer too long to encode"
            return value, None
        if isinstance(value, float):
            if math.isfinite(value):
                return value, None
            return value, "is not a finite number"
        kind = type(value).__name__
        try:
            value = default(value)
        except Exception:  # any failure of a user serializer means "cannot encode"
            if isinstance(value, decimal.Decimal):
                return value, "is a Decimal that is not a finite float"
            return value, f"has type {kind}, which the serializer cannot encode"
    return value, "cannot be encoded: the serializer keeps returning unknown types"


def _children(container: Any, path: str) -> Union[list[tuple[Any, str, bool]], str]:
    """List a container's items with their paths, or return a bad key's path."""
    if not isinstance(container, dict):
        return [
            (item, f"{path}[{index}]", False) for index, item in enumerate(container)
        ]
    children: list[tuple[Any, str, bool]] = []
    for key, item in container.items():
        if isinstance(key, str):
            child = f"{path}[{_key_text(key)}]" if path else _bare_key_text(key)
            children.append((item, child, False))
        elif key is None or isinstance(key, (int, float)):
            if isinstance(key, float) and not math.isfinite(key):
                return f"{path}[<non-finite float key>]"
            children.append((item, f"{path}[{key!r}]", False))
        else:
            return f"{path}[<{type(key).__name__} key>]"
    return children


def _bare_key_text(key: str) -> str:
    """Write a top-level key as is, shortening very long keys."""
    if len(key) > _MAX_KEY_TEXT:
        return key[: _MAX_KEY_TEXT - 3] + "..."
    return key


def _key_text(key: str) -> str:
    """Quote a key for a path, shortening very long keys."""
    text = repr(key)
    if len(text) > _MAX_KEY_TEXT:
        text = text[: _MAX_KEY_TEXT - 4] + "...'"
    return text
