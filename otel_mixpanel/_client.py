"""The direct Mixpanel client: the reference client's calls and messages.

Each method builds the same message as the official ``mixpanel`` 5.4.1 client,
checks the caller's input first, and hands one JSON string to a consumer.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Type, Union

from ._checks import (
    check_event_name,
    check_id,
    check_mapping,
    check_number,
    profile_properties,
    property_names,
)
from ._consumer import Consumer
from ._credentials import ServiceAccountCredentials
from ._errors import MixpanelException
from ._serialization import DatetimeSerializer, dumps_message
from ._version import __version__

_logger = logging.getLogger(__name__)

Id = Union[str, int]
Props = Mapping[str, Any]
Meta = Optional[Mapping[str, Any]]


class Mixpanel:
    """Send events and profile updates to Mixpanel through a consumer.

    ``consumer`` is any object with ``send(endpoint, json_message, api_key=None,
    api_secret=None)``; without one the client makes a ``Consumer`` (using
    ``credentials`` for imports) and closes it on ``__exit__``. A consumer
    passed in is never closed by the client. ``serializer`` is the
    ``json.JSONEncoder`` subclass that encodes every message.

    Invalid input raises ``MixpanelException`` before anything is sent: a
    ``distinct_id`` that is not a str or int, an empty event name, properties
    that are not a mapping, or a value that cannot become JSON (the message
    names the property, never its value).
    """

    def __init__(
        self,
        token: str,
        consumer: Any = None,
        serializer: Optional[Type[json.JSONEncoder]] = DatetimeSerializer,
        *,
        credentials: Optional[ServiceAccountCredentials] = None,
    ) -> None:
        self._token = token
        self._credentials = credentials
        self._serializer = serializer
        self._deprecation_warned: set[str] = set()
        self._owns_consumer = consumer is None
        if consumer is None:
            consumer = Consumer(credentials=credentials)
        elif credentials is not None:
            _logger.warning(
                "Mixpanel() ignores credentials when a consumer is given; "
                "pass them to the consumer, e.g. Consumer(credentials=...)."
            )
        self._consumer: Any = consumer

    def _now(self) -> float:
        return time.time()

    def _make_insert_id(self) -> str:
        # 32 random hex digits like the reference's uuid4().hex, about 4x cheaper.
        return os.urandom(16).hex()

    def track(
        self,
        distinct_id: Id,
        event_name: str,
        properties: Optional[Props] = None,
        meta: Meta = None,
    ) -> None:
        """Send an event to /track; ``meta`` overrides top-level event fields."""
        check_id("distinct_id", distinct_id)
        check_event_name(event_name)
        event = self._event(distinct_id, event_name, self._now(), properties, meta)
        self._consumer.send("events", dumps_message(event, self._serializer))

    def import_data(
        self,
        api_key: Optional[str],
        distinct_id: Id,
        event_name: str,
        timestamp: float,
        properties: Optional[Props] = None,
        meta: Meta = None,
        api_secret: Optional[str] = None,
    ) -> None:
        """Send an event with its own ``timestamp`` (epoch seconds) to /import.

        ``api_key`` and ``api_secret`` are deprecated: give the consumer
        ``ServiceAccountCredentials`` instead. They reach the consumer as the
        tuple ``(api_key, api_secret)``, as with the reference client.
        """
        self._warn_deprecated(api_key, api_secret)
        check_id("distinct_id", distinct_id)
        check_event_name(event_name)
        check_number("timestamp", timestamp)
        event = self._event(distinct_id, event_name, timestamp, properties, meta)
        message = dumps_message(event, self._serializer)
        self._consumer.send("imports", message, (api_key, api_secret))

    def alias(self, alias_id: Id, original: Id, meta: Meta = None) -> None:
        """Map ``alias_id`` to ``original`` at once (a synchronous /track call).

        The reference always sends this through a new default consumer, which
        ignores a custom host. This client sends it through the consumer's
        ``sync_consumer()`` (same endpoints, no buffering) when it has one,
        and through the consumer itself otherwise.
        """
        check_id("alias_id", alias_id)
        check_id("original", original)
        check_mapping("meta", meta)
        event: dict[str, Any] = {
            "event": "$create_alias",
            "properties": {
                "distinct_id": original,
                "alias": alias_id,
                "token": self._token,
            },
        }
        if meta:
            event.update(meta)
        message = dumps_message(event, self._serializer)
        make_sync = getattr(self._consumer, "sync_consumer", None)
        sender = make_sync() if callable(make_sync) else self._consumer
        sender.send("events", message)

    def merge(
        self,
        api_key: Optional[str],
        distinct_id1: Id,
        distinct_id2: Id,
        meta: Meta = None,
        api_secret: Optional[str] = None,
    ) -> None:
        """Merge two distinct ids through /import (see ``import_data`` on keys)."""
        self._warn_deprecated(api_key, api_secret)
        check_id("distinct_id1", distinct_id1)
        check_id("distinct_id2", distinct_id2)
        check_mapping("meta", meta)
        event: dict[str, Any] = {
            "event": "$merge",
            "properties": {
                "$distinct_ids": [distinct_id1, distinct_id2],
                "token": self._token,
            },
        }
        if meta:
            event.update(meta)
        message = dumps_message(event, self._serializer)
        self._consumer.send("imports", message, (api_key, api_secret))

    def people_set(self, distinct_id: Id, properties: Props, meta: Meta = None) -> None:
        """Set profile properties, creating the profile if needed."""
        self._people(distinct_id, "$set", profile_properties(properties), meta)

    def people_set_once(
        self, distinct_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Set profile properties that are not set yet."""
        self._people(distinct_id, "$set_once", profile_properties(properties), meta)

    def people_increment(
        self, distinct_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Add (or, with negative values, subtract) numbers to profile properties."""
        self._people(distinct_id, "$add", profile_properties(properties), meta)

    def people_append(
        self, distinct_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Append values to list properties of a profile."""
        self._people(distinct_id, "$append", profile_properties(properties), meta)

    def people_union(
        self, distinct_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Merge lists into list properties of a profile, skipping duplicates."""
        self._people(distinct_id, "$union", profile_properties(properties), meta)

    def people_unset(
        self, distinct_id: Id, properties: Sequence[str], meta: Meta = None
    ) -> None:
        """Remove the named properties from a profile."""
        self._people(distinct_id, "$unset", property_names(properties), meta)

    def people_remove(
        self, distinct_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Remove values from list properties of a profile."""
        self._people(distinct_id, "$remove", profile_properties(properties), meta)

    def people_delete(self, distinct_id: Id, meta: Meta = None) -> None:
        """Delete a profile."""
        self._people(distinct_id, "$delete", "", meta)

    def people_track_charge(
        self,
        distinct_id: Id,
        amount: float,
        properties: Optional[Props] = None,
        meta: Meta = None,
    ) -> None:
        """Append a charge of ``amount`` to the profile's ``$transactions``.

        Unlike the reference, the caller's ``properties`` are left untouched.
        """
        check_number("amount", amount)
        check_mapping("properties", properties)
        transaction = dict(properties) if properties else {}
        transaction["$amount"] = amount
        self._people(distinct_id, "$append", {"$transactions": transaction}, meta)

    def people_clear_charges(self, distinct_id: Id, meta: Meta = None) -> None:
        """Remove every charge from a profile."""
        self._people(distinct_id, "$unset", ["$transactions"], meta)

    def people_update(self, message: Props, meta: Meta = None) -> None:
        """Send a hand-built profile update to /engage (token and time added)."""
        self._update("people", message, meta)

    def group_set(
        self, group_key: str, group_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Set group profile properties, creating the profile if needed."""
        self._group(group_key, group_id, "$set", profile_properties(properties), meta)

    def group_set_once(
        self, group_key: str, group_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Set group profile properties that are not set yet."""
        self._group(
            group_key, group_id, "$set_once", profile_properties(properties), meta
        )

    def group_union(
        self, group_key: str, group_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Merge lists into list properties of a group profile."""
        self._group(group_key, group_id, "$union", profile_properties(properties), meta)

    def group_unset(
        self, group_key: str, group_id: Id, properties: Sequence[str], meta: Meta = None
    ) -> None:
        """Remove the named properties from a group profile."""
        self._group(group_key, group_id, "$unset", property_names(properties), meta)

    def group_remove(
        self, group_key: str, group_id: Id, properties: Props, meta: Meta = None
    ) -> None:
        """Remove values from list properties of a group profile."""
        self._group(
            group_key, group_id, "$remove", profile_properties(properties), meta
        )

    def group_delete(self, group_key: str, group_id: Id, meta: Meta = None) -> None:
        """Delete a group profile."""
        self._group(group_key, group_id, "$delete", "", meta)

    def group_update(self, message: Props, meta: Meta = None) -> None:
        """Send a hand-built group profile update to /groups (token and time added)."""
        self._update("groups", message, meta)

    def __enter__(self) -> Mixpanel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close_own_consumer()

    async def __aenter__(self) -> Mixpanel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close_own_consumer()

    def _event(
        self,
        distinct_id: Id,
        event_name: str,
        event_time: Any,
        properties: Optional[Props],
        meta: Meta,
    ) -> dict[str, Any]:
        """Build a /track or /import event in the reference's key order."""
        check_mapping("properties", properties)
        check_mapping("meta", meta)
        all_properties: dict[str, Any] = {
            "token": self._token,
            "distinct_id": distinct_id,
            "time": event_time,
            "$insert_id": self._make_insert_id(),
            "mp_lib": "python",
            "$lib_version": __version__,
        }
        if properties:
            all_properties.update(properties)
        event: dict[str, Any] = {"event": event_name, "properties": all_properties}
        if meta:
            event.update(meta)
        return event

    def _people(self, distinct_id: Id, operation: str, value: Any, meta: Meta) -> None:
        check_id("distinct_id", distinct_id)
        self.people_update({"$distinct_id": distinct_id, operation: value}, meta)

    def _group(
        self, group_key: str, group_id: Id, operation: str, value: Any, meta: Meta
    ) -> None:
        if not isinstance(group_key, str) or not group_key:
            raise MixpanelException("group_key must be a non-empty str")
        check_id("group_id", group_id)
        message = {"$group_key": group_key, "$group_id": group_id, operation: value}
        self.group_update(message, meta)

    def _update(self, endpoint: str, message: Props, meta: Meta) -> None:
        """Send a profile update: token and time first, then the message and meta."""
        if not isinstance(message, Mapping):
            raise MixpanelException(
                f"message must be a mapping, not {type(message).__name__}"
            )
        check_mapping("meta", meta)
        record: dict[str, Any] = {"$token": self._token, "$time": self._now()}
        record.update(message)
        if meta:
            record.update(meta)
        self._consumer.send(endpoint, dumps_message(record, self._serializer))

    def _warn_deprecated(self, api_key: object, api_secret: object) -> None:
        """Warn once per client for each deprecated argument used (never its value)."""
        for name, value in (("api_secret", api_secret), ("api_key", api_key)):
            if value is not None and name not in self._deprecation_warned:
                self._deprecation_warned.add(name)
                _logger.warning(
                    "The %s argument is deprecated; give the consumer "
                    "ServiceAccountCredentials instead.",
                    name,
                )

    def _close_own_consumer(self) -> None:
        close = getattr(self._consumer, "close", None)
        if self._owns_consumer and callable(close):
            close()
