"""What the local Mixpanel server received and accepted, and waiting for it.

A thread-safe store with a version counter: every change bumps the version
and wakes waiters, who re-evaluate their condition outside the lock.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request the server saw, whatever became of it.

    ``status`` is the HTTP status answered (0 when the connection was closed
    without a reply); ``fault`` names the injected fault that applied
    (``"down"``, ``"drop"``, ``"fail"``, ``"stall"``, ``"paused"``) or is None.
    The repr leaves out the body and header values (they hold credentials).
    """

    method: str
    path: str
    query: Dict[str, str]
    headers: Dict[str, str]
    body: bytes
    decoded_body: bytes
    endpoint: Optional[str]
    status: int
    content_encoding: Optional[str]
    records: int
    fault: Optional[str]

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(method={self.method!r}, path={self.path!r}, "
            f"endpoint={self.endpoint!r}, status={self.status}, "
            f"records={self.records}, fault={self.fault!r}, "
            f"headers={sorted(self.headers)!r}, body_bytes={len(self.body)})"
        )


class RecordStore:
    """Accepted events, profile and group updates, and every request."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._version = 0
        self._events: List[Dict[str, Any]] = []
        self._unique_events: List[Dict[str, Any]] = []
        self._seen_keys: set[str] = set()
        self._people: List[Dict[str, Any]] = []
        self._groups: List[Dict[str, Any]] = []
        self._requests: List[RecordedRequest] = []

    def accept(self, endpoint: str, records: List[Dict[str, Any]]) -> None:
        """Keep records accepted on ``endpoint`` and wake waiters."""
        if not records:
            return
        with self._condition:
            if endpoint == "people":
                self._people.extend(records)
            elif endpoint == "groups":
                self._groups.extend(records)
            else:
                self._events.extend(records)
                for record in records:
                    key = _dedup_key(record)
                    if key is None or key not in self._seen_keys:
                        self._unique_events.append(record)
                    if key is not None:
                        self._seen_keys.add(key)
            self._changed()

    def add_request(self, request: RecordedRequest) -> None:
        """Keep a request (accepted, rejected or faulted) and wake waiters."""
        with self._condition:
            self._requests.append(request)
            self._changed()

    def touch(self) -> None:
        """Wake waiters without recording anything (e.g. a request is held)."""
        with self._condition:
            self._changed()

    def events(
        self, name: Optional[str] = None, unique: bool = False
    ) -> List[Dict[str, Any]]:
        """Copies of the accepted events, optionally named ``name``."""
        with self._condition:
            selected = _named(self._unique_events if unique else self._events, name)
        return copy.deepcopy(selected)

    def count_events(self, name: Optional[str] = None, unique: bool = False) -> int:
        """How many events (named ``name``) were accepted, without copying."""
        with self._condition:
            return len(_named(self._unique_events if unique else self._events, name))

    def people(self) -> List[Dict[str, Any]]:
        """Copies of the accepted ``/engage`` updates."""
        with self._condition:
            return copy.deepcopy(self._people)

    def groups(self) -> List[Dict[str, Any]]:
        """Copies of the accepted ``/groups`` updates."""
        with self._condition:
            return copy.deepcopy(self._groups)

    def counts(self) -> Tuple[int, int]:
        """Numbers of accepted people and group updates."""
        with self._condition:
            return len(self._people), len(self._groups)

    def requests(self) -> List[RecordedRequest]:
        """Every request seen, in arrival order."""
        with self._condition:
            return list(self._requests)

    def reset(self) -> None:
        """Forget everything recorded."""
        with self._condition:
            self._events.clear()
            self._unique_events.clear()
            self._seen_keys.clear()
            self._people.clear()
            self._groups.clear()
            self._requests.clear()
            self._changed()

    def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` is true, re-checking after each change.

        The predicate runs outside the lock, so it may call the store. Returns
        False when ``timeout`` seconds pass first.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._condition:
                version = self._version
            if predicate():
                return True
            with self._condition:
                while self._version == version:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    self._condition.wait(remaining)

    def describe(self) -> str:
        """A short summary of what was seen, for timeout messages."""
        with self._condition:
            statuses: Dict[str, int] = {}
            for request in self._requests:
                label = str(request.status) + (
                    f"/{request.fault}" if request.fault else ""
                )
                statuses[label] = statuses.get(label, 0) + 1
            summary = ", ".join(
                f"{label} x{count}" for label, count in sorted(statuses.items())
            )
            return (
                f"{len(self._requests)} request(s) [{summary or 'none'}], "
                f"{len(self._events)} event(s), {len(self._people)} people "
                f"update(s), {len(self._groups)} group update(s)"
            )

    def _changed(self) -> None:
        self._version += 1
        self._condition.notify_all()


def _named(events: List[Dict[str, Any]], name: Optional[str]) -> List[Dict[str, Any]]:
    if name is None:
        return list(events)
    return [event for event in events if event.get("event") == name]


def _dedup_key(event: Dict[str, Any]) -> Optional[str]:
    """Mixpanel's deduplication key; events without ``$insert_id`` never merge."""
    properties = event.get("properties")
    if not isinstance(properties, dict) or "$insert_id" not in properties:
        return None
    parts = [
        event.get("event"),
        properties.get("time"),
        properties.get("distinct_id"),
        properties["$insert_id"],
    ]
    return json.dumps(parts, sort_keys=True, default=str)
