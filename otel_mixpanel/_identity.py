"""Who a record is about: its ``distinct_id`` and group keys.

Placeholder identities Mixpanel rejects (``anon``, ``null``, ``0``, ...) count
as no identity; an event without identity is sent without ``distinct_id``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Optional

from ._property_values import MAX_STRING_LENGTH

#: Identity values that mean "nobody"; compared stripped and lower-cased.
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "0",
        "-1",
        "anon",
        "anonymous",
        "null",
        "nil",
        "none",
        "undefined",
        "unknown",
        "nan",
        "[]",
        "{}",
        "lmy47d",
        "00000000-0000-0000-0000-000000000000",
    }
)


class RecordIdentity(NamedTuple):
    """What a child record (a span event) takes from its parent."""

    distinct_id: Optional[str]
    groups: Mapping[str, Any]


NO_IDENTITY = RecordIdentity(None, {})


def distinct_id_of(value: Any) -> Optional[str]:
    """The identity in ``value``, or None when absent, invalid or a placeholder.

    Strings of 1 to 255 characters and integers (as strings) are identities.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(int(value))
    elif isinstance(value, str):
        text = str.__str__(value)
    else:
        return None
    if len(text) > MAX_STRING_LENGTH or text.strip().lower() in PLACEHOLDER_IDS:
        return None
    return text


def is_group_id(value: Any) -> bool:
    """Group ids are non-empty strings or integers."""
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, int) and not isinstance(value, bool)


def merge_identity(
    candidates: Mapping[int, Any],
    groups: Mapping[str, Any],
    parent: RecordIdentity,
) -> RecordIdentity:
    """The record's identity: its best-ranked valid candidate, else its parent's.

    ``candidates`` maps a rank (0 is best) to a raw identity value; the
    record's groups are added to (and override) the parent's.
    """
    distinct_id = None
    if len(candidates) == 1:
        (value,) = candidates.values()
        distinct_id = distinct_id_of(value)
    else:
        for rank in sorted(candidates):
            distinct_id = distinct_id_of(candidates[rank])
            if distinct_id is not None:
                break
    if distinct_id is None:
        distinct_id = parent.distinct_id
    if not groups and distinct_id == parent.distinct_id:
        return parent
    if parent.groups:
        groups = {**parent.groups, **groups}
    return RecordIdentity(distinct_id, groups)
