"""Per-record validation rules of Mixpanel's ingestion API, for the local server.

Each check returns the first :class:`Problem` of a record (or ``None``), named
after the offending field the way ``/import?strict=1`` reports it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional

#: Events before this instant (1971-01-01T00:00:00Z) are rejected.
EARLIEST_TIME = 31_536_000.0
#: Events more than this far in the future are rejected.
FUTURE_LIMIT = 3600.0
#: ``/track`` takes only events of the last five days.
TRACK_WINDOW = 5 * 24 * 3600.0
#: Times above this are milliseconds.
MILLISECONDS_THRESHOLD = 1e11
#: One event's JSON must be smaller than this.
MAX_EVENT_BYTES = 1024 * 1024
#: Objects must have fewer keys, arrays fewer items, than this.
MAX_ITEMS = 255
#: Deepest nesting of objects and arrays inside a property value.
MAX_DEPTH = 3

PLACEHOLDER_IDS = frozenset(
    {
        "",
        "anon",
        "null",
        "undefined",
        "0",
        "-1",
        "nil",
        "none",
        "[]",
        "{}",
        "lmy47d",
        "00000000-0000-0000-0000-000000000000",
    }
)
PROFILE_OPERATIONS = (
    "$set",
    "$set_once",
    "$add",
    "$append",
    "$union",
    "$remove",
    "$unset",
    "$delete",
)
_INSERT_ID = re.compile(r"[A-Za-z0-9-]{1,36}")
#: Identity events sent to /import without a time (Mixpanel fills it in).
_TIMELESS_IMPORTS = frozenset({"$merge"})


@dataclass(frozen=True)
class Problem:
    """Why a record was rejected: the field and a message."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def event_problem(
    record: Any,
    *,
    endpoint: str,
    token: Optional[str],
    strict: bool,
    now: float,
    body_size: Optional[int] = None,
) -> Optional[Problem]:
    """Check one event for ``/track`` (``endpoint="events"``) or ``/import``.

    ``body_size``, the bytes of the whole request, spares encoding each event
    again to check its size when the request is smaller than the limit.
    """
    if not isinstance(record, dict):
        return Problem("event", "record must be a JSON object")
    name = record.get("event")
    if not isinstance(name, str) or not name:
        return Problem("event", "event name must be a non-empty string")
    properties = record.get("properties")
    if not isinstance(properties, dict):
        return Problem("properties", "properties must be a JSON object")
    importing = endpoint == "imports"

    if not importing and token is not None and properties.get("token") != token:
        return Problem("properties.token", "token, missing or invalid")
    problem = _time_problem(
        properties,
        required=importing and name not in _TIMELESS_IMPORTS,
        track=not importing,
        now=now,
    )
    if problem is not None:
        return problem
    if "distinct_id" in properties and _is_placeholder(properties["distinct_id"]):
        return Problem(
            "properties.distinct_id", "distinct_id is empty or a placeholder value"
        )
    problem = _insert_id_problem(
        properties, required=importing and strict and name not in _TIMELESS_IMPORTS
    )
    if problem is not None:
        return problem
    return _size_problem(record, properties, body_size)


def profile_problem(
    record: Any, *, endpoint: str, token: Optional[str]
) -> Optional[Problem]:
    """Check one ``/engage`` (``endpoint="people"``) or ``/groups`` update."""
    if not isinstance(record, dict):
        return Problem("$token", "update must be a JSON object")
    if token is not None and record.get("$token") != token:
        return Problem("$token", "$token, missing or invalid")
    if endpoint == "people":
        if _is_blank(record.get("$distinct_id")):
            return Problem("$distinct_id", "$distinct_id is missing or empty")
    else:
        group_key = record.get("$group_key")
        if not isinstance(group_key, str) or not group_key:
            return Problem("$group_key", "$group_key is missing or empty")
        if _is_blank(record.get("$group_id")):
            return Problem("$group_id", "$group_id is missing or empty")
    operations = [name for name in PROFILE_OPERATIONS if name in record]
    if len(operations) != 1:
        return Problem(
            "operation",
            f"exactly one operation among {', '.join(PROFILE_OPERATIONS)} is needed; "
            f"got {len(operations)}",
        )
    operation = operations[0]
    value = record[operation]
    if operation == "$unset":
        if not isinstance(value, list):
            return Problem(operation, "$unset takes a list of property names")
    elif operation != "$delete" and not isinstance(value, dict):
        return Problem(operation, f"{operation} takes an object")
    if operation == "$add" and isinstance(value, dict):
        for key, amount in value.items():
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                return Problem(f"$add.{key}", "$add takes numbers")
    return None


def _time_problem(
    properties: Dict[str, Any], *, required: bool, track: bool, now: float
) -> Optional[Problem]:
    if "time" not in properties:
        if required:
            return Problem("properties.time", "time is required")
        return None
    value = properties["time"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return Problem("properties.time", "time must be a number")
    seconds = value / 1000.0 if value > MILLISECONDS_THRESHOLD else float(value)
    if seconds < EARLIEST_TIME:
        return Problem("properties.time", "time is before 1971-01-01")
    if seconds > now + FUTURE_LIMIT:
        return Problem("properties.time", "time is more than 1 hour in the future")
    if track and seconds < now - TRACK_WINDOW:
        return Problem(
            "properties.time", "time is older than 5 days; use /import instead"
        )
    return None


def _insert_id_problem(
    properties: Dict[str, Any], *, required: bool
) -> Optional[Problem]:
    if "$insert_id" not in properties:
        if required:
            return Problem("properties.$insert_id", "$insert_id is required")
        return None
    insert_id = properties["$insert_id"]
    if not isinstance(insert_id, str) or not _INSERT_ID.fullmatch(insert_id):
        return Problem(
            "properties.$insert_id",
            "$insert_id must be 1 to 36 characters of [A-Za-z0-9-]",
        )
    return None


def _size_problem(
    record: Dict[str, Any], properties: Dict[str, Any], body_size: Optional[int]
) -> Optional[Problem]:
    if len(properties) >= MAX_ITEMS:
        return Problem(
            "properties", f"an event must have fewer than {MAX_ITEMS} properties"
        )
    for key, value in properties.items():
        problem = _nesting_problem(value, f"properties.{key}", depth=1)
        if problem is not None:
            return problem
    if body_size is not None and body_size < MAX_EVENT_BYTES:
        return None
    encoded = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    if len(encoded.encode("utf-8")) >= MAX_EVENT_BYTES:
        return Problem(
            "event", f"an event must be smaller than {MAX_EVENT_BYTES} bytes"
        )
    return None


def _nesting_problem(value: Any, path: str, depth: int) -> Optional[Problem]:
    if not isinstance(value, (dict, list)):
        return None
    if depth > MAX_DEPTH:
        return Problem(path, f"objects and arrays nest at most {MAX_DEPTH} deep")
    if len(value) >= MAX_ITEMS:
        return Problem(
            path, f"objects and arrays must hold fewer than {MAX_ITEMS} items"
        )
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        problem = _nesting_problem(item, f"{path}.{key}", depth + 1)
        if problem is not None:
            return problem
    return None


def _is_placeholder(distinct_id: Any) -> bool:
    if distinct_id is None:
        return True
    if isinstance(distinct_id, (list, dict)):
        return not distinct_id
    return str(distinct_id).strip().lower() in PLACEHOLDER_IDS


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())
