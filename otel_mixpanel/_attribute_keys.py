"""What each attribute key means to the mapping: a property, a control, or nothing.

Keys are classified once and the answer cached, so the per-record work is one
dictionary lookup per attribute.
"""

from __future__ import annotations

from typing import Any, Mapping

from ._property_values import MAX_STRING_LENGTH
from ._redaction import URL_ATTRIBUTES, Redaction

#: The attribute naming the event a record becomes.
EVENT_KEY = "mixpanel.event"
#: Where ``distinct_id`` comes from, first found wins.
IDENTITY_KEYS = ("mixpanel.distinct_id", "user.id", "enduser.id", "enduser.pseudo.id")
#: Properties the mapper sets itself; attributes with these names are dropped.
RESERVED_PROPERTIES = frozenset(
    {"token", "time", "distinct_id", "$insert_id", "mp_lib", "$lib_version"}
    | {"trace_id", "span_id"}
)
#: Attributes never sent: large and of no use in analytics.
ALWAYS_DROPPED = frozenset({"exception.stacktrace"})
#: ``mixpanel.people.<operation>.<property>`` -> the /engage operation.
PROFILE_OPERATIONS: Mapping[str, str] = {
    "set": "$set",
    "set_once": "$set_once",
    "increment": "$add",
    "append": "$append",
    "union": "$union",
    "remove": "$remove",
}
PEOPLE_PREFIX = "mixpanel.people."
GROUP_PREFIX = "mixpanel.group."
UNSET_KEY = PEOPLE_PREFIX + "unset"

#: A property to keep as it is (after cleaning its value).
KEEP = 0
#: Dropped without counting: redacted, or a control read elsewhere.
SKIP = 1
#: Dropped and counted: not a usable property name.
INVALID_KEY = 2
#: A URL: kept with its user info and credential query values replaced.
SCRUB_URL = 3
# Controls are tuples: ("id", rank, kept_as_property), ("people", operation,
# property), ("group", group_key) and ("unset",).

_MAX_CACHED_KEYS = 4096


class AttributeKeys:
    """Classifies attribute keys (cached); exposes the cache as :attr:`kinds`."""

    def __init__(self, redaction: Redaction) -> None:
        self._redaction = redaction
        self.kinds: dict[str, Any] = {}
        self._redacted: dict[str, bool] = {}

    def kind(self, key: Any) -> Any:
        """``KEEP``, ``SKIP``, ``INVALID_KEY`` or a control tuple for ``key``."""
        kind = self.kinds.get(key) if isinstance(key, str) else None
        if kind is None:
            kind = self._classify(key)
            if isinstance(key, str):
                if len(self.kinds) >= _MAX_CACHED_KEYS:
                    self.kinds.clear()
                self.kinds[key] = kind
        return kind

    def is_redacted(self, key: str) -> bool:
        """Whether ``key`` names a credential (or is never sent)."""
        answer = self._redacted.get(key)
        if answer is None:
            answer = key in ALWAYS_DROPPED or self._redaction.matches(key)
            if len(self._redacted) >= _MAX_CACHED_KEYS:
                self._redacted.clear()
            self._redacted[key] = answer
        return answer

    def _classify(self, key: Any) -> Any:
        if not isinstance(key, str) or not key or len(key) > MAX_STRING_LENGTH:
            return INVALID_KEY
        if key in IDENTITY_KEYS:
            rank = IDENTITY_KEYS.index(key)
            return ("id", rank, rank > 0 and not self.is_redacted(key))
        if key.startswith("mixpanel."):
            return self._classify_control(key)
        if key in RESERVED_PROPERTIES:
            return INVALID_KEY
        if self.is_redacted(key):
            return SKIP
        if key in URL_ATTRIBUTES and self._redaction.enabled:
            return SCRUB_URL
        return KEEP

    def scrub_url(self, value: Any) -> Any:
        """A URL attribute's value with its credentials replaced."""
        if isinstance(value, str):
            return self._redaction.scrub_url(value)
        return value

    def _classify_control(self, key: str) -> Any:
        if key == EVENT_KEY:
            return SKIP
        if key == UNSET_KEY:
            return ("unset",)
        if key.startswith(PEOPLE_PREFIX):
            operation, _, property_name = key[len(PEOPLE_PREFIX) :].partition(".")
            if operation in PROFILE_OPERATIONS and property_name:
                if self.is_redacted(property_name):
                    return SKIP
                return ("people", PROFILE_OPERATIONS[operation], property_name)
        if key.startswith(GROUP_PREFIX) and len(key) > len(GROUP_PREFIX):
            group_key = key[len(GROUP_PREFIX) :]
            if group_key not in RESERVED_PROPERTIES:
                return ("group", group_key)
        return INVALID_KEY
