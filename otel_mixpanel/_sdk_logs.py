"""One stable face over ``opentelemetry.sdk._logs``, supported from SDK 1.35 to 1.45.

1.39 renamed ``LogExporter``/``LogData``/``LogExportResult`` to
``LogRecordExporter``/``ReadableLogRecord``/``LogRecordExportResult`` and
processors now take a ``ReadWriteLogRecord``; 1.44 made ``force_flush`` abstract.
"""

from __future__ import annotations

import functools
import inspect
from typing import TYPE_CHECKING, Any, Mapping, Optional

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

#: Oldest and newest SDK minor versions this module is written and tested for.
SUPPORTED_RANGE = ("1.35", "1.45")

if TYPE_CHECKING:
    from opentelemetry.sdk._logs.export import LogRecordExporter as _SdkExporter
    from opentelemetry.sdk._logs.export import LogRecordExportResult as _Result
else:
    try:  # 1.39 and later
        from opentelemetry.sdk._logs.export import LogRecordExporter as _SdkExporter
        from opentelemetry.sdk._logs.export import LogRecordExportResult as _Result
    except ImportError:  # 1.35 to 1.38
        from opentelemetry.sdk._logs.export import LogExporter as _SdkExporter
        from opentelemetry.sdk._logs.export import LogExportResult as _Result

try:  # 1.39 and later: processors take a ReadWriteLogRecord around an API record
    from opentelemetry._logs import LogRecord as _ApiLogRecord
    from opentelemetry.sdk._logs import ReadWriteLogRecord as _ReadWrite

    _NEW_RECORDS = True
except ImportError:  # 1.35 to 1.38: processors take a LogData around an SDK record
    from opentelemetry.sdk._logs import LogData as _LogData  # type: ignore[attr-defined]
    from opentelemetry.sdk._logs import (  # type: ignore[attr-defined]
        LogRecord as _SdkLogRecord,
    )

    _NEW_RECORDS = False

# One shared limits object: the SDK's default builds a new one, reading four
# environment variables, for every record.
_LIMITS: dict[str, Any] = {}
if _NEW_RECORDS and "limits" in inspect.signature(_ReadWrite.__init__).parameters:
    try:
        from opentelemetry.sdk._logs import LogRecordLimits

        _LIMITS["limits"] = LogRecordLimits()
    except ImportError:  # the SDK's default is used
        pass

#: The export result enum (``SUCCESS``, ``FAILURE``) of the installed SDK.
LogExportResult = _Result

__all__ = [
    "SUPPORTED_RANGE",
    "BatchLogRecordProcessor",
    "LogExportResult",
    "LogRecordExporterBase",
    "SeverityNumber",
    "emit",
    "make_log_record",
    "shutdown_processor",
    "unwrap",
]


class LogRecordExporterBase(_SdkExporter):
    """The SDK's log record exporter base, the same on every supported version.

    Subclasses implement ``export(batch) -> LogExportResult`` (read each item
    with :func:`unwrap`) and may override ``shutdown`` and ``force_flush``,
    which default to doing nothing and to ``True``.
    """

    def shutdown(self) -> None:
        """Release resources; the default does nothing."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what the exporter holds; the default holds nothing."""
        return True


def make_log_record(
    body: Any,
    attributes: Optional[Mapping[str, Any]] = None,
    timestamp_ns: Optional[int] = None,
    *,
    observed_timestamp_ns: Optional[int] = None,
    severity_text: Optional[str] = None,
    severity_number: Optional[SeverityNumber] = None,
    event_name: Optional[str] = None,
    context: Optional[Context] = None,
    trace_id: Optional[int] = None,
    span_id: Optional[int] = None,
    resource: Optional[Resource] = None,
    scope: Optional[InstrumentationScope] = None,
) -> Any:
    """Build the object a log record processor's ``on_emit`` takes.

    Returns a ``ReadWriteLogRecord`` (1.39+) or a ``LogData`` (older). The
    trace and span ids come from ``trace_id``/``span_id`` when given, else
    from the span current in ``context`` (or in the caller's context).
    """
    if trace_id:
        span_context = trace.SpanContext(
            trace_id, span_id or 0, is_remote=False, trace_flags=trace.TraceFlags(1)
        )
        context = trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    fields: dict[str, Any] = {
        "timestamp": timestamp_ns,
        "observed_timestamp": observed_timestamp_ns,
        "context": context,
        "severity_text": severity_text,
        "severity_number": severity_number,
        "body": body,
        "attributes": dict(attributes) if attributes else None,
        "event_name": event_name,
    }
    if _NEW_RECORDS:
        extra: dict[str, Any] = dict(_LIMITS)
        if resource is not None:
            extra["resource"] = resource
        return _ReadWrite(
            log_record=_ApiLogRecord(**fields), instrumentation_scope=scope, **extra
        )
    return _LogData(
        log_record=_SdkLogRecord(resource=resource or _default_resource(), **fields),
        instrumentation_scope=scope or _DEFAULT_SCOPE,
    )


def emit(processor: Any, record: Any, resource: Optional[Resource] = None) -> None:
    """Hand a record from :func:`make_log_record` to ``processor.on_emit``.

    ``resource``, when given, replaces the record's resource first.
    """
    if resource is not None:
        if _NEW_RECORDS:
            record.resource = resource
        else:
            record.log_record.resource = resource
    processor.on_emit(record)


def shutdown_processor(processor: Any) -> None:
    """Shut a processor down (its ``shutdown`` is untyped in the SDK).

    The SDK's batch processor joins its worker, whose last step exports what
    is queued: bound that by bounding the exporter's export time.
    """
    processor.shutdown()


def unwrap(item: Any) -> tuple[Any, Optional[Resource]]:
    """Return the log record inside an exported item and its resource.

    Exporters receive ``ReadableLogRecord`` (1.39+) or ``LogData`` items; the
    record is ``item.log_record`` and the resource is read from the item
    first (1.39+), then from the record (older).
    """
    record = getattr(item, "log_record", item)
    resource = getattr(item, "resource", None)
    if resource is None:
        resource = getattr(record, "resource", None)
    return record, resource


_DEFAULT_SCOPE = InstrumentationScope("mixpanel.records")


@functools.lru_cache(maxsize=1)
def _default_resource() -> Resource:
    """One SDK default resource, not one per record (old records build their own)."""
    return Resource.create({})
