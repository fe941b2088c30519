"""A ``logging.LogRecord`` turned into the SDK log record the handler queues.

The ``extra`` values are cleaned here, on the logging thread: the event keeps
what they were when logged, and values Mixpanel cannot store are counted.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from ._attribute_keys import EVENT_KEY
from ._log_record_mapping import HandlerPayload, RecordTally
from ._mapping import EventMapper
from ._sdk_logs import SeverityNumber, make_log_record

#: The extra naming the identity, short for ``mixpanel.distinct_id``.
DISTINCT_ID_EXTRA = "distinct_id"
#: Attributes every ``LogRecord`` has; any other attribute came from ``extra``.
STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.NOTSET, "", 0, "", (), None))
) | {
    "message",  # set by Formatter.format
    "asctime",
    "taskName",  # Python 3.12+
    # set by opentelemetry-instrumentation-logging; trace ids are sent anyway
    "otelSpanID",
    "otelTraceID",
    "otelTraceSampled",
    "otelServiceName",
}
_DISTINCT_ID_KEY = "mixpanel.distinct_id"
_MAX_CACHED_SCOPES = 1024


class RecordConverter:
    """Builds the SDK log record (body: a :class:`HandlerPayload`) of a record."""

    def __init__(self, mapper: EventMapper) -> None:
        self._mapper = mapper
        self.tally = RecordTally()
        self._resource = Resource.create()
        self._scopes: dict[str, InstrumentationScope] = {}

    def convert(self, record: logging.LogRecord, message: str) -> Any:
        """The SDK log record of ``record``, whose formatted text is ``message``.

        Raises only when the record's own message cannot be turned into text.
        """
        fields = vars(record)
        name = fields.get(EVENT_KEY)
        dropped = 0
        if not (isinstance(name, str) and name.strip()):
            if name is not None:
                dropped += 1
            name = record.msg if isinstance(record.msg, str) else str(record.msg)
        attributes: dict[str, Any] = {EVENT_KEY: name}
        clean = self._mapper.clean_value
        for field, value in fields.items():
            if field in STANDARD_ATTRIBUTES or field == EVENT_KEY:
                continue
            key = field
            if field == DISTINCT_ID_EXTRA:
                if _DISTINCT_ID_KEY in fields:
                    continue
                key = _DISTINCT_ID_KEY
            elif not isinstance(field, str):
                dropped += 1
                continue
            cleaned, usable, left_out = clean(value)
            dropped += left_out
            if usable:
                attributes[key] = cleaned
        dropped += _add_exception(attributes, record.exc_info)
        if dropped:
            self._mapper.losses.add("invalid property", dropped)
        return make_log_record(
            HandlerPayload(message, attributes, self.tally, self.tally.number()),
            None,
            int(record.created * 1e9),
            severity_text=record.levelname,
            severity_number=_severity(record.levelno),
            resource=self._resource,
            scope=self._scope(record.name),
        )

    def _scope(self, logger_name: str) -> InstrumentationScope:
        scope = self._scopes.get(logger_name)
        if scope is None:
            if len(self._scopes) >= _MAX_CACHED_SCOPES:
                self._scopes.clear()
            scope = self._scopes[logger_name] = InstrumentationScope(logger_name)
        return scope


def _add_exception(attributes: dict[str, Any], exc_info: Any) -> int:
    """Add ``exception.type`` and ``exception.message``; return values dropped."""
    if not isinstance(exc_info, tuple) or len(exc_info) < 2 or exc_info[0] is None:
        return 0
    kind, value = exc_info[0], exc_info[1]
    attributes["exception.type"] = getattr(kind, "__name__", None) or "Exception"
    if value is None:
        return 0
    try:
        attributes["exception.message"] = str(value)
    except Exception:  # a hostile __str__: the message is dropped
        return 1
    return 0


def _severity(levelno: int) -> Optional[SeverityNumber]:
    """The OpenTelemetry severity of a ``logging`` level (DEBUG 5 ... CRITICAL 21)."""
    if not isinstance(levelno, int) or levelno <= logging.NOTSET:
        return None
    if levelno < logging.DEBUG:
        return SeverityNumber.TRACE
    band, offset = divmod(min(levelno, logging.CRITICAL + 3), 10)
    return SeverityNumber(min(4 * band + 1 + min(offset, 3), 24))
