"""Attributes of spans and log records become Mixpanel events and profile updates.

One set of rules for every source (identity, properties, redaction, profile and
group attributes, ``$insert_id``, limits); see :class:`EventMapper`.
"""

from __future__ import annotations

import time
from typing import Any, Mapping, Optional

from ._attribute_copy import AttributeCopier
from ._attribute_keys import EVENT_KEY, PEOPLE_PREFIX, AttributeKeys
from ._identity import NO_IDENTITY, RecordIdentity, is_group_id, merge_identity
from ._loss import LossCounter
from ._message_json import encode_message
from ._messages import MessageBatch, insert_id
from ._profiles import ProfileChanges
from ._property_values import INVALID, MAX_STRING_LENGTH, ValueCleaner
from ._redaction import Redaction
from ._version import __version__

#: Properties in one event, Mixpanel's own included (Mixpanel takes fewer than 255).
MAX_PROPERTIES = 254
#: Mixpanel refuses an event of this many bytes of JSON, and /track the whole
#: request with it: such an event is dropped (and counted) instead.
MAX_EVENT_BYTES = 1024 * 1024
#: ``mp_lib`` of every event.
LIBRARY_NAME = "otel-mixpanel"
#: (property, resource attribute) pairs; the first found of a property wins.
RESOURCE_PROPERTIES = (
    ("service.name", "service.name"),
    ("service.version", "service.version"),
    ("deployment.environment.name", "deployment.environment.name"),
    ("deployment.environment.name", "deployment.environment"),
)
_MAX_CACHED_RESOURCES = 32
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError)

__all__ = ["EventMapper", "MessageBatch", "RecordIdentity", "insert_id"]


class EventMapper:
    """Builds Mixpanel messages from a record's name, attributes and context.

    Never raises on bad input: values that cannot be sent are dropped and
    counted in ``losses`` ("invalid property", "too many properties"); profile
    updates of a record without identity are skipped and counted ("no identity
    for profile update"). An event without identity has no ``distinct_id``.
    Safe to share between threads.
    """

    def __init__(
        self,
        token: str,
        *,
        uses_import: bool = False,
        redact: Optional[Redaction] = None,
        losses: Optional[LossCounter] = None,
    ) -> None:
        self._token = token
        self._event_endpoint = "imports" if uses_import else "events"
        self.losses = losses if losses is not None else LossCounter()
        self._keys = AttributeKeys(redact if redact is not None else Redaction())
        self._cleaner = ValueCleaner(self._keys.is_redacted)
        self._copier = AttributeCopier(self._keys, self._cleaner)
        self._resources: dict[int, tuple[object, dict[str, Any]]] = {}

    @property
    def event_endpoint(self) -> str:
        """``"imports"`` when events go to /import, else ``"events"``."""
        return self._event_endpoint

    def new_batch(self) -> MessageBatch:
        """An empty batch whose events go to :attr:`event_endpoint`."""
        return MessageBatch(self._event_endpoint)

    def event_name(self, attributes: Optional[Mapping[str, Any]]) -> Optional[str]:
        """The record's ``mixpanel.event`` when it is a usable name, else None."""
        if not attributes:
            return None
        name = attributes.get(EVENT_KEY)
        if isinstance(name, str) and name.strip():
            return str.__str__(name[:MAX_STRING_LENGTH])
        return None

    def has_profile_updates(self, attributes: Optional[Mapping[str, Any]]) -> bool:
        """Whether the record carries ``mixpanel.people.*`` attributes."""
        if not attributes:
            return False
        return any(
            isinstance(key, str) and key.startswith(PEOPLE_PREFIX) for key in attributes
        )

    def clean_value(self, value: Any) -> tuple[Any, bool, int]:
        """Clean one property value by the mapping's rules.

        Returns ``(value, usable, dropped)``: ``dropped`` counts the values
        left out, the whole value or items inside a kept array or object.
        """
        cleaned, dropped = self._cleaner.clean(value)
        return cleaned, cleaned is not INVALID, dropped

    def identity(
        self,
        attributes: Optional[Mapping[str, Any]],
        inherited: Optional[RecordIdentity] = None,
    ) -> RecordIdentity:
        """Resolve a record's identity and groups without building messages."""
        parent = inherited or NO_IDENTITY
        candidates: dict[int, Any] = {}
        groups: dict[str, Any] = {}
        for key, value in (attributes or {}).items():
            kind = self._keys.kind(key)
            if type(kind) is tuple and kind[0] == "id":
                candidates[kind[1]] = value
            elif type(kind) is tuple and kind[0] == "group":
                group_id, _ = self._cleaner.clean(value)
                if is_group_id(group_id):
                    groups[kind[1]] = group_id
        return merge_identity(candidates, groups, parent)

    def map_record(
        self,
        batch: MessageBatch,
        name: Optional[str],
        attributes: Optional[Mapping[str, Any]],
        *,
        time_ns: Optional[int],
        insert_id: str,
        resource_attributes: Optional[Mapping[str, Any]] = None,
        trace_id: int = 0,
        span_id: int = 0,
        extra_properties: Optional[Mapping[str, Any]] = None,
        inherited: Optional[RecordIdentity] = None,
    ) -> RecordIdentity:
        """Append the record's event (unless ``name`` is None) and profile updates.

        ``extra_properties`` (source-specific, e.g. ``duration_ms``) are cleaned
        like attributes and win over them. Returns the record's identity for
        its child records.
        """
        parent = inherited or NO_IDENTITY
        millis = (time_ns or time.time_ns()) // 1_000_000
        properties = dict(self._base_properties(resource_attributes))
        properties["time"] = millis
        properties["$insert_id"] = insert_id
        if trace_id:
            properties["trace_id"] = f"{trace_id:032x}"
        if span_id:
            properties["span_id"] = f"{span_id:016x}"
        room = MAX_PROPERTIES - len(properties) - 1 - len(parent.groups)
        if extra_properties:
            room -= len(extra_properties)

        controls: list[tuple[Any, str, Any]] = []
        invalid, over, room = self._copier.add_attributes(
            properties, attributes, room, controls
        )
        record = parent
        profile = None
        if controls:
            record, profile, lost, room = self._copier.apply_controls(
                properties, controls, room, parent
            )
            invalid += lost
            over += max(0, -room)
        for group_key, group_id in parent.groups.items():
            properties.setdefault(group_key, group_id)
        if extra_properties:
            invalid += self._copier.add_extra(properties, extra_properties)

        if name is not None:
            self._append_event(batch, name, record.distinct_id, properties)
        if profile is not None and profile.operations:
            self._append_profile(batch, profile, record.distinct_id, millis)
        if invalid:
            self.losses.add("invalid property", invalid)
        if over:
            self.losses.add("too many properties", over)
        return record

    def _append_event(
        self,
        batch: MessageBatch,
        name: Any,
        distinct_id: Optional[str],
        properties: dict[str, Any],
    ) -> None:
        if type(name) is not str or len(name) > MAX_STRING_LENGTH:
            name = (
                str.__str__(name[:MAX_STRING_LENGTH]) if isinstance(name, str) else ""
            )
        if not name or name.isspace():
            self.losses.add("invalid event name")
            return
        if distinct_id is not None:
            properties["distinct_id"] = distinct_id
        try:
            text = encode_message({"event": name, "properties": properties})
        except _ENCODE_ERRORS:
            self.losses.add("invalid message")
            return
        if len(text) * 4 >= MAX_EVENT_BYTES and (
            len(text.encode("utf-8", "surrogatepass")) >= MAX_EVENT_BYTES
        ):
            self.losses.add("event too large")
            return
        batch.events.append(text)

    def _append_profile(
        self,
        batch: MessageBatch,
        profile: ProfileChanges,
        distinct_id: Optional[str],
        millis: int,
    ) -> None:
        if distinct_id is None:
            self.losses.add("no identity for profile update", len(profile.operations))
            return
        for message in profile.messages(self._token, distinct_id, millis):
            try:
                batch.people.append(encode_message(message))
            except _ENCODE_ERRORS:
                self.losses.add("invalid message")

    def _base_properties(
        self, resource_attributes: Optional[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Token, library and resource properties, cached per resource object."""
        cached = self._resources.get(id(resource_attributes))
        if cached is not None and cached[0] is resource_attributes:
            return cached[1]
        base: dict[str, Any] = {
            "token": self._token,
            "mp_lib": LIBRARY_NAME,
            "$lib_version": __version__,
        }
        for property_name, attribute in RESOURCE_PROPERTIES:
            if property_name in base or not resource_attributes:
                continue
            value = resource_attributes.get(attribute)
            if value is not None:
                cleaned, _ = self._cleaner.clean(value)
                if cleaned is not INVALID:
                    base[property_name] = cleaned
        if len(self._resources) >= _MAX_CACHED_RESOURCES:
            self._resources.clear()
        self._resources[id(resource_attributes)] = (resource_attributes, base)
        return base
