"""Property values cut down to what Mixpanel stores, without ever raising.

Strings are truncated, arrays and objects bounded in size and depth, and values
JSON (or Mixpanel) cannot take are reported as dropped rather than sent.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Callable

from ._serialization import DatetimeSerializer

#: Strings are cut to this many characters (Mixpanel truncates there anyway).
MAX_STRING_LENGTH = 255
#: Arrays keep at most this many items and objects this many keys.
MAX_ITEMS = 254
#: Arrays and objects nest at most this deep inside a property value.
MAX_DEPTH = 3
#: Integers beyond this magnitude cannot be stored faithfully; they are dropped.
MAX_INTEGER = 2**63

#: Returned in place of a value that must be dropped.
INVALID: Any = object()

_SERIALIZED_TYPES = (datetime.date, decimal.Decimal, uuid.UUID)
_serializer = DatetimeSerializer()


class ValueCleaner:
    """Turns any value into one Mixpanel stores, or :data:`INVALID`.

    ``clean`` returns the cleaned value and how many values (the value itself
    or items inside it) were dropped. Keys of nested objects for which
    ``is_redacted`` is true are removed without being counted.
    """

    def __init__(self, is_redacted: Callable[[str], bool]) -> None:
        self._is_redacted = is_redacted

    def clean(self, value: Any, depth: int = 1) -> tuple[Any, int]:
        """Return ``(cleaned value or INVALID, number of values dropped)``."""
        kind = type(value)
        if kind is str:
            if len(value) > MAX_STRING_LENGTH:
                return value[:MAX_STRING_LENGTH], 0
            return value, 0
        if kind is bool or value is None:
            return value, 0
        if kind is int:
            return (value, 0) if -MAX_INTEGER < value < MAX_INTEGER else (INVALID, 1)
        if kind is float:
            return (value, 0) if value - value == 0.0 else (INVALID, 1)
        if kind is tuple or kind is list:
            return self._sequence(value, depth)
        if kind is dict:
            return self._mapping(value, depth)
        return self._other(value, depth)

    def _sequence(self, items: Sequence[Any], depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            return INVALID, 1
        if len(items) <= MAX_ITEMS and _all_plain(items):
            if type(items) is tuple or type(items) is list:
                return items, 0  # encoded as a JSON array as it is
            return list(items), 0
        cleaned = []
        dropped = 0
        for item in itertools.islice(items, MAX_ITEMS):
            value, lost = self.clean(item, depth + 1)
            dropped += lost
            if value is not INVALID:
                cleaned.append(value)
        return cleaned, dropped

    def _mapping(self, items: Mapping[Any, Any], depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            return INVALID, 1
        cleaned: dict[str, Any] = {}
        dropped = 0
        for raw_key, item in items.items():
            key = raw_key
            if isinstance(key, (int, float)) and not isinstance(key, bool):
                key = str(key)
            if not isinstance(key, str) or len(key) > MAX_STRING_LENGTH:
                dropped += 1
                continue
            if self._is_redacted(key):
                continue
            if len(cleaned) >= MAX_ITEMS:
                dropped += 1
                continue
            value, lost = self.clean(item, depth + 1)
            dropped += lost
            if value is not INVALID:
                cleaned[str.__str__(key)] = value
        return cleaned, dropped

    def _other(self, value: Any, depth: int) -> tuple[Any, int]:
        """Subclasses of the plain types, dates, decimals, UUIDs, other containers."""
        try:
            if isinstance(value, str):
                return self.clean(str.__str__(value), depth)
            if isinstance(value, int):
                return self.clean(int(value), depth)
            if isinstance(value, float):
                return self.clean(float(value), depth)
            if isinstance(value, _SERIALIZED_TYPES):
                return self.clean(_serializer.default(value), depth)
            if isinstance(value, Mapping):
                return self._mapping(value, depth)
            if isinstance(value, Sequence) and not isinstance(
                value, (bytes, bytearray)
            ):
                return self._sequence(value, depth)
        except Exception:  # a hostile __int__, __str__ or __iter__: drop the value
            return INVALID, 1
        return INVALID, 1


def _all_plain(items: Sequence[Any]) -> bool:
    """Whether every item is a short string, a boolean, or a sendable number."""
    for item in items:
        kind = type(item)
        if not (
            (kind is str and len(item) <= MAX_STRING_LENGTH)
            or kind is bool
            or (kind is int and -MAX_INTEGER < item < MAX_INTEGER)
            or (kind is float and item - item == 0.0)
        ):
            return False
    return True
