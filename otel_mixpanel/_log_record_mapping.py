"""How one OpenTelemetry log record becomes Mixpanel messages.

The name, time, ids and log-specific properties are read here; identity,
properties, redaction, profiles, groups and limits are the shared mapping's.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any, Mapping, Optional

from ._exporting import attributes_of
from ._mapping import EventMapper, MessageBatch, insert_id
from ._sdk_logs import unwrap

#: The attribute naming an event in OpenTelemetry's semantic conventions.
OTEL_EVENT_NAME = "otel.event.name"
#: The name of an exported record whose body is not a string (export-all mode).
DEFAULT_EVENT_NAME = "log"
#: Loggers whose records are never exported: this package's own, the HTTP
#: client's and the SDK's (exporting them would feed back into delivery).
IGNORED_LOGGERS = ("otel_mixpanel", "urllib3", "requests", "opentelemetry")
_MAX_CACHED_LOGGERS = 1024


class RecordTally:
    """Numbers a handler's records, to count those its queue dropped.

    The SDK's batch processor drops the oldest records when its queue is
    full, without telling. The handler numbers each record as it queues it
    (under the handler's lock, so in queue order); a gap in the numbers the
    exporter sees is a drop, and what was numbered but never seen when the
    handler closes was not delivered either.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._numbered = 0
        self._seen = 0
        self._pid = os.getpid()

    def number(self) -> int:
        """The number of the next record queued."""
        self._check_process()
        with self._lock:
            self._numbered += 1
            return self._numbered

    def see(self, sequence: int) -> int:
        """Note that record ``sequence`` reached the exporter; return the gap."""
        self._check_process()
        with self._lock:
            gap = max(0, sequence - self._seen - 1)
            self._seen = max(self._seen, sequence)
        return gap

    def settle(self) -> int:
        """Count every record numbered but not seen as gone; return how many."""
        self._check_process()
        with self._lock:
            unseen = self._numbered - self._seen
            self._seen = self._numbered
        return unseen

    def _check_process(self) -> None:
        """In a forked child, the parent's queued records are the parent's."""
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._seen = self._numbered


class HandlerPayload:
    """What :class:`MixpanelHandler` puts in a log record's body.

    ``attributes`` are the record's properties and controls, already cleaned
    on the logging thread (a snapshot of the ``extra`` values), and
    ``message`` the formatted message. Riding in the body keeps them out of
    the SDK's attribute limits and checks, which differ between versions.
    ``tally`` and ``sequence`` number the record (see :class:`RecordTally`).
    """

    __slots__ = ("attributes", "message", "sequence", "tally")

    def __init__(
        self,
        message: str,
        attributes: Mapping[str, Any],
        tally: Optional[RecordTally] = None,
        sequence: int = 0,
    ) -> None:
        self.message = message
        self.attributes = attributes
        self.tally = tally
        self.sequence = sequence

    def __repr__(self) -> str:
        return f"<HandlerPayload with {len(self.attributes)} attribute(s)>"


class LoggerFilter:
    """Tells whether a logger's records must not be exported (cached per name)."""

    def __init__(self, prefixes: tuple[str, ...] = IGNORED_LOGGERS) -> None:
        self._prefixes = prefixes
        self._answers: dict[str, bool] = {}

    def ignores(self, name: str) -> bool:
        """True for the ignored loggers and their children, e.g. ``urllib3.util``."""
        answer = self._answers.get(name)
        if answer is None:
            answer = any(
                name == prefix or name.startswith(prefix + ".")
                for prefix in self._prefixes
            )
            if len(self._answers) >= _MAX_CACHED_LOGGERS:
                self._answers.clear()
            self._answers[name] = answer
        return answer


class LogRecordMapper:
    """Appends the messages of exported log records to a batch.

    A record becomes an event when it is named by ``mixpanel.event``, its
    ``event_name`` or ``otel.event.name`` (first found); with ``export_all``
    any other record is named by its body. Records of the ignored loggers
    (the instrumentation scope's name) are skipped.
    """

    def __init__(self, mapper: EventMapper, *, export_all: bool = False) -> None:
        self.mapper = mapper
        self._export_all = export_all
        self._loggers = LoggerFilter()
        self._sequence = itertools.count()
        self._nonce = os.urandom(8).hex()

    def map_item(self, batch: MessageBatch, item: Any) -> None:
        """Append the messages of one exported item (record plus resource)."""
        record, resource = unwrap(item)
        scope = getattr(item, "instrumentation_scope", None)
        logger_name = getattr(scope, "name", None) or None
        if isinstance(logger_name, str) and self._loggers.ignores(logger_name):
            return
        body = getattr(record, "body", None)
        if type(body) is HandlerPayload:
            attributes: Optional[Mapping[str, Any]] = body.attributes
            message: Any = body.message
            if body.tally is not None:
                self.mapper.losses.add("queue full", body.tally.see(body.sequence))
        else:
            attributes = attributes_of(record)
            message = body
        name = self._event_name(record, attributes, message)
        mapper = self.mapper
        if name is None and not mapper.has_profile_updates(attributes):
            return
        trace_id = getattr(record, "trace_id", 0) or 0
        span_id = getattr(record, "span_id", 0) or 0
        timestamp = getattr(record, "timestamp", None)
        observed = getattr(record, "observed_timestamp", None)
        extra = None
        if name is not None:
            extra = _log_properties(record, logger_name, message)
        mapper.map_record(
            batch,
            name,
            attributes,
            time_ns=timestamp or observed,
            insert_id=insert_id(trace_id, span_id, 0, self._seed(timestamp, observed)),
            resource_attributes=resource.attributes if resource else None,
            trace_id=trace_id,
            span_id=span_id,
            extra_properties=extra,
        )

    def _event_name(
        self, record: Any, attributes: Optional[Mapping[str, Any]], body: Any
    ) -> Optional[str]:
        name = self.mapper.event_name(attributes)
        if name is not None:
            return name
        for candidate in (
            getattr(record, "event_name", None),
            attributes.get(OTEL_EVENT_NAME) if attributes else None,
        ):
            if isinstance(candidate, str) and candidate.strip():
                return str.__str__(candidate)
        if not self._export_all:
            return None
        if isinstance(body, str) and body.strip():
            return str.__str__(body)
        return DEFAULT_EVENT_NAME

    def _seed(self, timestamp: Optional[int], observed: Optional[int]) -> bytes:
        """Identifies one exported record, even two alike in the same clock tick.

        The ids are built once per record and kept through retries, so a
        per-exporter sequence (with the process id and a random nonce) makes
        them unique without making a resend look new.
        """
        sequence = next(self._sequence)
        text = f"{self._nonce}|{os.getpid()}|{sequence}|{timestamp}|{observed}"
        return text.encode()


def _log_properties(
    record: Any, logger_name: Optional[str], message: Any
) -> dict[str, Any]:
    """``level``, ``logger.name`` and the body (``message``, or ``body``)."""
    properties: dict[str, Any] = {}
    level = getattr(record, "severity_text", None)
    if not level:
        severity = getattr(record, "severity_number", None)
        level = getattr(severity, "name", None)
    if level:
        properties["level"] = level
    if logger_name:
        properties["logger.name"] = logger_name
    if isinstance(message, str):
        properties["message"] = message
    elif message is not None:
        properties["body"] = message
    return properties
