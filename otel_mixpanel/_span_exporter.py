"""The OpenTelemetry span exporter: marked spans and span events become Mixpanel events.

``export`` maps a batch, hands it to a buffered consumer and flushes before it
returns, so the SDK's span processor is the only scheduler.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Iterable, Optional, Sequence, Union

from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import StatusCode

from ._buffered import BufferedConsumer
from ._exporting import (
    DeliveryBudget,
    ExportLock,
    attributes_of,
    build_parts,
    deliver,
    flush,
    release,
)
from ._identity import RecordIdentity
from ._mapping import MessageBatch, insert_id
from ._settings import EXPORT_ALL_SPANS_VARIABLE, env_flag

_logger = logging.getLogger(__name__)

#: The span event ``record_exception`` adds; folded into its span's event.
EXCEPTION_EVENT = "exception"


class MixpanelSpanExporter(SpanExporter):
    """Sends spans marked with ``mixpanel.event`` (or all spans) to Mixpanel.

    Every keyword falls back to its ``MIXPANEL_*`` environment variable, so
    ``OTEL_TRACES_EXPORTER=mixpanel opentelemetry-instrument`` needs no code;
    a missing token raises ``ValueError`` naming ``MIXPANEL_TOKEN``. Events go
    to ``/import`` when import credentials are set, to ``/track`` otherwise;
    ``mixpanel.people.*`` attributes become ``/engage`` updates.

    An exported span's ``exception`` events are not sent as events of their
    own: the first one's ``exception.type`` and ``exception.message`` become
    properties of the span's event (``exception.stacktrace`` is never sent).
    A span event marked with ``mixpanel.event`` is always sent.

    Pass ``consumer`` to deliver through your own :class:`BufferedConsumer`;
    the exporter then flushes it but never cancels or closes it. ``losses``
    counts what could not be mapped or delivered. ``export`` never raises.
    """

    def __init__(
        self,
        *,
        token: Optional[str] = None,
        api_host: Optional[str] = None,
        service_account_username: Optional[str] = None,
        service_account_secret: Optional[str] = None,
        project_id: Optional[str] = None,
        api_secret: Optional[str] = None,
        export_all_spans: Optional[bool] = None,
        redact: Union[str, Iterable[str], None] = None,
        consumer: Optional[BufferedConsumer] = None,
        **delivery: Any,
    ) -> None:
        parts = build_parts(
            consumer,
            redact,
            {
                "token": token,
                "api_host": api_host,
                "service_account_username": service_account_username,
                "service_account_secret": service_account_secret,
                "project_id": project_id,
                "api_secret": api_secret,
                **delivery,
            },
        )
        self._consumer = parts.consumer
        self._owns_consumer = parts.owns_consumer
        self._mapper = parts.mapper
        self._export_timeout = parts.settings.retry_deadline
        self.losses = self._consumer.losses
        if export_all_spans is None:
            export_all_spans = env_flag(EXPORT_ALL_SPANS_VARIABLE, False)
        self._export_all_spans = export_all_spans
        self._export_lock = ExportLock(self._consumer, self._owns_consumer)
        self._is_shutdown = False
        self._budget = DeliveryBudget()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Map and deliver ``spans``; SUCCESS once Mixpanel took them all."""
        if self._is_shutdown:
            self._count_refused(spans)
            return SpanExportResult.FAILURE
        with self._export_lock.exporting():
            if self._is_shutdown:
                self._count_refused(spans)
                return SpanExportResult.FAILURE
            try:
                delivered = self._export(spans)
            except Exception as error:  # export must never raise
                _logger.warning("Mixpanel span export failed: %s", type(error).__name__)
                _logger.debug("Mixpanel span export failure.", exc_info=True)
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS if delivered else SpanExportResult.FAILURE

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Deliver what is buffered within the timeout; True when nothing is left."""
        if self._is_shutdown:
            return False
        timeout = max(0.0, timeout_millis / 1000)
        deadline = time.monotonic() + timeout
        if not self._export_lock.acquire(timeout):
            return False
        try:
            flushed = flush(self._consumer, deadline - time.monotonic())
        finally:
            self._export_lock.release()
        return flushed and self._consumer.pending() == 0

    def shutdown(self, timeout_millis: float = 30000) -> None:
        """Flush within the timeout, then cut retries short and close.

        An export still running when the time is up gives up its retries;
        what could not be delivered is counted in ``losses``.
        """
        if self._is_shutdown:
            return
        self._is_shutdown = True
        timeout = max(0.0, timeout_millis / 1000)
        deadline = time.monotonic() + timeout
        if not self._export_lock.acquire_for_shutdown(timeout):
            return  # the export under way releases the consumer when it ends
        try:
            flush(self._consumer, deadline - time.monotonic())
        finally:
            release(self._consumer, self._owns_consumer, idle=True)
            self._export_lock.release()

    def _count_refused(self, spans: Sequence[ReadableSpan]) -> None:
        """Count the messages of spans handed over after shutdown."""
        batch = self._mapper.new_batch()
        for span in spans:
            try:
                self._map_span(span, batch)
            except Exception:  # counted below as far as it got
                _logger.debug("Could not map a span.", exc_info=True)
        self.losses.add("exported after shutdown", len(batch))

    def _export(self, spans: Sequence[ReadableSpan]) -> bool:
        batch = self._mapper.new_batch()
        for span in spans:
            try:
                self._map_span(span, batch)
            except Exception:  # one broken span must not stop the batch
                self.losses.add("span that could not be mapped")
                _logger.debug("Could not map a span.", exc_info=True)
        return deliver(self._consumer, batch, self._export_timeout, self._budget)

    def _map_span(self, span: ReadableSpan, batch: MessageBatch) -> None:
        mapper = self._mapper
        attributes = attributes_of(span)
        name = mapper.event_name(attributes)
        if name is None and self._export_all_spans:
            name = span.name
        events = _events_of(span)
        # A marked span is mapped whatever it carries; for an unmarked one,
        # only its profile updates and span events may have to go.
        updates = name is None and mapper.has_profile_updates(attributes)
        if name is None and not updates and not events:
            return
        context = span.context
        trace_id = context.trace_id if context is not None else 0
        span_id = context.span_id if context is not None else 0
        resource = span.resource.attributes if span.resource is not None else None
        identity: Optional[RecordIdentity] = None
        if name is not None or updates:
            identity = mapper.map_record(
                batch,
                name,
                attributes,
                time_ns=span.end_time or span.start_time,
                insert_id=insert_id(trace_id, span_id),
                resource_attributes=resource,
                trace_id=trace_id,
                span_id=span_id,
                extra_properties=None
                if name is None
                else _span_properties(span, events),
            )
        for position, event in enumerate(events, 1):
            event_attributes = attributes_of(event)
            event_name = mapper.event_name(event_attributes)
            if (
                event_name is None
                and name is not None
                and event.name != EXCEPTION_EVENT
            ):
                event_name = event.name
            if event_name is None and not mapper.has_profile_updates(event_attributes):
                continue
            if identity is None:
                identity = mapper.identity(attributes)
            mapper.map_record(
                batch,
                event_name,
                event_attributes,
                time_ns=event.timestamp,
                insert_id=insert_id(trace_id, span_id, position),
                resource_attributes=resource,
                trace_id=trace_id,
                span_id=span_id,
                inherited=identity,
            )


def _span_properties(span: ReadableSpan, events: Sequence[Event]) -> dict[str, Any]:
    """``duration_ms`` (to the microsecond), and the error status and exception."""
    properties: dict[str, Any] = {}
    start, end = span.start_time, span.end_time
    if start and end:
        properties["duration_ms"] = (end - start) // 1000 / 1000
    status = span.status
    if status is not None and status.status_code is StatusCode.ERROR:
        properties["error"] = True
        if status.description:
            properties["error.message"] = status.description
    for event in events:
        if event.name == EXCEPTION_EVENT:
            attributes = event.attributes or {}
            for key in ("exception.type", "exception.message"):
                if attributes.get(key) is not None:
                    properties[key] = attributes[key]
            break
    return properties


def _events_of(span: ReadableSpan) -> Sequence[Event]:
    """The span's events; no copy (and no lock) for a span without any."""
    stored = getattr(span, "_events", None)
    if stored is not None and len(stored) == 0:
        return ()
    return span.events
