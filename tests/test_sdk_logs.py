"""The SDK log shim, on the installed SDK: records in, records out, queue policy."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.version import __version__ as sdk_version

from otel_mixpanel._sdk_logs import (
    SUPPORTED_RANGE,
    BatchLogRecordProcessor,
    LogExportResult,
    LogRecordExporterBase,
    SeverityNumber,
    emit,
    make_log_record,
    unwrap,
)


class Collecting(LogRecordExporterBase):
    """Keeps every exported item; can hold the first export until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.items: list[Any] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def export(self, batch: Sequence[Any]) -> LogExportResult:
        self.started.set()
        self.release.wait(10)
        self.items.extend(batch)
        return LogExportResult.SUCCESS


def processor(exporter: Collecting, **kwargs: Any) -> BatchLogRecordProcessor:
    settings: dict[str, Any] = {"schedule_delay_millis": 60_000}
    settings.update(kwargs)
    return BatchLogRecordProcessor(exporter, **settings)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def test_installed_sdk_is_in_the_supported_range() -> None:
    """The installed SDK lies within the range the shim states."""
    low, high = (version_tuple(v) for v in SUPPORTED_RANGE)
    assert low <= version_tuple(sdk_version) <= high


def test_exporter_base_needs_only_export() -> None:
    """A subclass that defines export only is usable: shutdown and flush default."""
    exporter = Collecting()
    assert exporter.force_flush() is True
    assert exporter.shutdown() is None
    assert {LogExportResult.SUCCESS.name, LogExportResult.FAILURE.name} == {
        "SUCCESS",
        "FAILURE",
    }


def test_record_fields_survive_the_batch_processor() -> None:
    """Body, attributes, times, severity, event name and ids reach the exporter."""
    exporter = Collecting()
    pipeline = processor(exporter)
    resource = Resource.create({"service.name": "shop"})
    record = make_log_record(
        "Checkout",
        {"user.id": "u1", "cart": {"items": 2}},
        1_700_000_000_000_000_000,
        observed_timestamp_ns=1_700_000_000_500_000_000,
        severity_text="INFO",
        severity_number=SeverityNumber.INFO,
        event_name="checkout",
        trace_id=0xABC,
        span_id=0xDEF,
        resource=resource,
    )
    emit(pipeline, record)
    pipeline.force_flush()
    pipeline.shutdown()
    (item,) = exporter.items
    log_record, got_resource = unwrap(item)
    assert log_record.body == "Checkout"
    assert dict(log_record.attributes) == {"user.id": "u1", "cart": {"items": 2}}
    assert log_record.timestamp == 1_700_000_000_000_000_000
    assert log_record.observed_timestamp == 1_700_000_000_500_000_000
    assert log_record.severity_text == "INFO"
    assert log_record.severity_number == SeverityNumber.INFO
    assert log_record.event_name == "checkout"
    assert (log_record.trace_id, log_record.span_id) == (0xABC, 0xDEF)
    assert got_resource is not None
    assert got_resource.attributes["service.name"] == "shop"


def test_ids_come_from_the_current_span_and_emit_sets_the_resource() -> None:
    """Inside a span the record carries its ids; emit's resource wins."""
    exporter = Collecting()
    pipeline = processor(exporter)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        record = make_log_record({"any": "body"})
    emit(pipeline, record, Resource.create({"service.name": "api"}))
    outside = make_log_record("outside")
    emit(pipeline, outside)
    pipeline.force_flush()
    pipeline.shutdown()
    inside_record, resource = unwrap(exporter.items[0])
    context = span.get_span_context()
    assert (inside_record.trace_id, inside_record.span_id) == (
        context.trace_id,
        context.span_id,
    )
    assert resource is not None and resource.attributes["service.name"] == "api"
    outside_record, _ = unwrap(exporter.items[1])
    assert (outside_record.trace_id, outside_record.span_id) == (0, 0)
    assert outside_record.observed_timestamp > 0


def test_unwrap_takes_a_bare_record() -> None:
    """An item without log_record is its own record; resource read from it."""

    class Bare:
        body = "x"
        resource = None

    record, resource = unwrap(Bare)
    assert record is Bare and resource is None


def test_full_sdk_queue_drops_the_oldest_and_keeps_order() -> None:
    """The SDK queue drops its oldest records and exports in emission order."""
    exporter = Collecting(hold_first=True)
    pipeline = processor(exporter, max_queue_size=3, max_export_batch_size=3)
    for number in (1, 2, 3):
        emit(pipeline, make_log_record(number))
    assert exporter.started.wait(10)
    for number in range(4, 9):
        emit(pipeline, make_log_record(number))
    exporter.release.set()
    pipeline.force_flush()
    pipeline.shutdown()
    bodies = [unwrap(item)[0].body for item in exporter.items]
    assert bodies == [1, 2, 3, 6, 7, 8]
