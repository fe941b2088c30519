"""Copying a record's attributes into event properties: the mapping's hot loop.

Plain attributes are copied with their values cleaned; identity, group and
profile attributes are set aside and applied after the loop.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from ._attribute_keys import KEEP, SCRUB_URL, SKIP, AttributeKeys
from ._identity import RecordIdentity, is_group_id, merge_identity
from ._profiles import ProfileChanges
from ._property_values import INVALID, MAX_INTEGER, MAX_STRING_LENGTH, ValueCleaner

Controls = list[tuple[Any, str, Any]]


class AttributeCopier:
    """Copies attributes into a properties dict within the property limit."""

    def __init__(self, keys: AttributeKeys, cleaner: ValueCleaner) -> None:
        self._keys = keys
        self._cleaner = cleaner

    def add_attributes(
        self,
        properties: dict[str, Any],
        attributes: Optional[Mapping[str, Any]],
        room: int,
        controls: Controls,
    ) -> tuple[int, int, int]:
        """The hot loop: copy plain attributes, set controls aside.

        Returns ``(values dropped, properties over the limit, room left)``.
        """
        if not attributes:
            return 0, 0, room
        if len(attributes) > room:
            return self._add_attributes_bounded(properties, attributes, room, controls)
        invalid = 0
        size = len(properties)
        kinds_get = self._keys.kinds.get
        clean = self._cleaner.clean
        keep = KEEP
        skip = SKIP
        longest = MAX_STRING_LENGTH
        largest = MAX_INTEGER
        for key, value in attributes.items():
            kind = kinds_get(key)
            if kind is keep:
                value_type = type(value)
                if (
                    (value_type is str and len(value) <= longest)
                    or value_type is bool
                    or (value_type is int and -largest < value < largest)
                    or (value_type is float and value - value == 0.0)
                ):
                    properties[key] = value
                    continue
                cleaned, lost = clean(value)
                invalid += lost
                if cleaned is not INVALID:
                    properties[key] = cleaned
                continue
            if kind is skip:
                continue
            if type(kind) is tuple:
                controls.append((kind, key, value))
                continue
            invalid += self._add_attribute(properties, key, value, controls)
        return invalid, 0, room - (len(properties) - size)

    def _add_attribute(
        self,
        properties: dict[str, Any],
        key: str,
        value: Any,
        controls: Controls,
    ) -> int:
        """Any attribute the fast path did not take; returns the values dropped."""
        kind = self._keys.kind(key)
        if kind is SCRUB_URL:
            value = self._keys.scrub_url(value)
            kind = KEEP
        if kind is KEEP:
            cleaned, lost = self._cleaner.clean(value)
            if cleaned is not INVALID:
                properties[key] = cleaned
            return lost
        if kind is SKIP:
            return 0
        if type(kind) is tuple:
            controls.append((kind, key, value))
            return 0
        return 1

    def _add_attributes_bounded(
        self,
        properties: dict[str, Any],
        attributes: Mapping[str, Any],
        room: int,
        controls: Controls,
    ) -> tuple[int, int, int]:
        """Like the hot loop, for records that may exceed the property limit."""
        invalid = 0
        over = 0
        for key, raw in attributes.items():
            kind = self._keys.kind(key)
            value = raw
            if kind is SCRUB_URL:
                value = self._keys.scrub_url(raw)
                kind = KEEP
            if kind is KEEP:
                cleaned, lost = self._cleaner.clean(value)
                invalid += lost
                if cleaned is INVALID:
                    continue
                if room > 0 or key in properties:
                    room -= key not in properties
                    properties[key] = cleaned
                else:
                    over += 1
            elif type(kind) is tuple:
                controls.append((kind, key, value))
            elif kind is not SKIP:
                invalid += 1
        return invalid, over, room

    def apply_controls(
        self,
        properties: dict[str, Any],
        controls: Controls,
        room: int,
        parent: RecordIdentity,
    ) -> tuple[RecordIdentity, Optional[ProfileChanges], int, int]:
        """Identity, groups and profile changes; returns ``(identity, profile,
        values dropped, room left)`` where a negative room counts what did not fit.
        """
        candidates: dict[int, Any] = {}
        groups: dict[str, Any] = {}
        profile: Optional[ProfileChanges] = None
        invalid = 0
        for kind, key, value in controls:
            tag = kind[0]
            if tag == "id":
                candidates[kind[1]] = value
                if not kind[2]:
                    continue
                cleaned, lost = self._cleaner.clean(value)
                invalid += lost
                if cleaned is not INVALID:
                    room -= 1
                    if room >= 0:
                        properties[key] = cleaned
            elif tag == "group":
                group_id, _ = self._cleaner.clean(value)
                if not is_group_id(group_id):
                    invalid += 1
                    continue
                room -= 1
                if room >= 0:
                    groups[kind[1]] = properties[kind[1]] = group_id
            else:
                if profile is None:
                    profile = ProfileChanges(self._cleaner.clean)
                invalid += profile.add(kind, value)
        record = merge_identity(candidates, groups, parent)
        return record, profile, invalid, room

    def add_extra(
        self, properties: dict[str, Any], extra_properties: Mapping[str, Any]
    ) -> int:
        """Copy source-specific properties over the attributes; return the drops."""
        invalid = 0
        for key, value in extra_properties.items():
            if type(key) is str and (
                (type(value) is float and value - value == 0.0) or value is True
            ):
                properties[key] = value  # the common duration_ms and error
                continue
            cleaned, lost = self._cleaner.clean(value)
            invalid += lost
            if cleaned is not INVALID and isinstance(key, str):
                properties[key] = cleaned
        return invalid
