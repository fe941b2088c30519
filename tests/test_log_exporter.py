"""Tests of MixpanelLogExporter with the SDK's batch processor and the local server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_mixpanel import BufferedConsumer, MixpanelLogExporter
from otel_mixpanel._sdk_logs import (
    BatchLogRecordProcessor,
    LogExportResult,
    SeverityNumber,
    emit,
    make_log_record,
)
from otel_mixpanel.testing import MixpanelServer

RESOURCE = Resource.create({"service.name": "shop", "service.version": "2.0.1"})
SECOND = 1_000_000_000
NOW_NS = (time.time_ns() // SECOND - 3600) * SECOND  # an hour ago, whole seconds


def named_record(name: str) -> Any:
    """A log record of the application's scope naming the event ``name``."""
    return make_log_record(
        "x", {"mixpanel.event": name}, scope=InstrumentationScope("app")
    )


class Pipeline:
    """A BatchLogRecordProcessor feeding a Mixpanel log exporter."""

    def __init__(self, server: MixpanelServer, **options: Any) -> None:
        options.setdefault("token", server.token)
        options.setdefault("api_host", server.url)
        options.setdefault("retry_deadline", 2.0)
        self.exporter = MixpanelLogExporter(**options)
        self.processor = BatchLogRecordProcessor(
            self.exporter, schedule_delay_millis=20
        )

    def log(
        self,
        body: Any = None,
        attributes: Any = None,
        scope: str = "app",
        **fields: Any,
    ) -> None:
        fields.setdefault("resource", RESOURCE)
        record = make_log_record(
            body, attributes, scope=InstrumentationScope(scope), **fields
        )
        emit(self.processor, record)

    def flush(self) -> None:
        assert self.processor.force_flush()


@pytest.fixture
def pipeline(mixpanel_server: MixpanelServer) -> Iterator[Pipeline]:
    built = Pipeline(mixpanel_server)
    yield built
    built.processor.shutdown()


def test_records_become_events_by_their_name(pipeline, mixpanel_server):
    """mixpanel.event, event_name or otel.event.name names an event; others are not."""
    pipeline.log("plain line, not an event")
    pipeline.log("signed up", event_name="Signed up")
    pipeline.log("x", {"otel.event.name": "Cart viewed"})
    pipeline.log("x", {"mixpanel.event": "Paid", "otel.event.name": "ignored"})
    pipeline.log("x", {"mixpanel.event": "Renamed"}, event_name="browser.click")
    pipeline.flush()
    events = mixpanel_server.wait_for_events(4)
    assert sorted(event["event"] for event in events) == [
        "Cart viewed",
        "Paid",
        "Renamed",
        "Signed up",
    ]


def test_log_properties_identity_and_resource(pipeline, mixpanel_server):
    """Properties: attributes, level, logger.name, message, resource; identity rules."""
    pipeline.log(
        "User 7 signed up",
        {
            "mixpanel.event": "Signed up",
            "user.id": "user-7",
            "plan": "pro",
            "password": "hunter2",
            "tags": ["a", "b"],
            "mixpanel.group.company_id": "acme",
        },
        scope="shop.accounts",
        severity_text="WARN",
        severity_number=SeverityNumber.WARN,
    )
    pipeline.flush()
    (event,) = mixpanel_server.wait_for_events(1)
    properties = event["properties"]
    assert properties["distinct_id"] == "user-7"
    assert properties["user.id"] == "user-7"
    assert properties["plan"] == "pro"
    assert properties["tags"] == ["a", "b"]
    assert properties["company_id"] == "acme"
    assert properties["level"] == "WARN"
    assert properties["logger.name"] == "shop.accounts"
    assert properties["message"] == "User 7 signed up"
    assert properties["service.name"] == "shop"
    assert properties["service.version"] == "2.0.1"
    assert "password" not in properties
    assert "trace_id" not in properties
    assert "span_id" not in properties


def test_level_falls_back_to_the_severity_number(pipeline, mixpanel_server):
    """Without severity text, the severity number's name is the level."""
    pipeline.log(
        {"order": 42},
        {"mixpanel.event": "Ordered"},
        severity_number=SeverityNumber.INFO,
    )
    pipeline.flush()
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["properties"]["level"] == "INFO"
    assert event["properties"]["body"] == {"order": 42}
    assert "message" not in event["properties"]


def test_profile_updates_without_an_event(pipeline, mixpanel_server):
    """A record with mixpanel.people.* attributes but no name only updates a profile."""
    pipeline.log(
        "profile only",
        {"mixpanel.distinct_id": "user-9", "mixpanel.people.set.plan": "team"},
    )
    pipeline.flush()
    (update,) = mixpanel_server.wait_for_people(1)
    assert update["$distinct_id"] == "user-9"
    assert update["$set"] == {"plan": "team"}
    assert mixpanel_server.events() == []


def test_trace_and_span_ids_inside_a_span(pipeline, mixpanel_server):
    """A record emitted inside a span carries the span's trace_id and span_id."""
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("checkout") as span:
        pipeline.log("in span", {"mixpanel.event": "Checked out"})
        context = span.get_span_context()
    pipeline.flush()
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["properties"]["trace_id"] == format(context.trace_id, "032x")
    assert event["properties"]["span_id"] == format(context.span_id, "016x")


def test_time_from_timestamp_else_observed(pipeline, mixpanel_server):
    """The event time is the record's timestamp, else its observed timestamp."""
    pipeline.log(
        "a",
        {"mixpanel.event": "Stamped"},
        timestamp_ns=NOW_NS,
        observed_timestamp_ns=NOW_NS + 5 * SECOND,
    )
    pipeline.log(
        "b", {"mixpanel.event": "Observed"}, observed_timestamp_ns=NOW_NS + 7 * SECOND
    )
    pipeline.flush()
    mixpanel_server.wait_for_events(2)
    (stamped,) = mixpanel_server.events("Stamped")
    (observed,) = mixpanel_server.events("Observed")
    assert stamped["properties"]["time"] == NOW_NS // 1_000_000
    assert observed["properties"]["time"] == (NOW_NS + 7 * SECOND) // 1_000_000


def test_identical_records_keep_distinct_insert_ids(pipeline, mixpanel_server):
    """Two identical records (same time, same span) are two events, not one."""
    tracer = TracerProvider().get_tracer("tests")
    with tracer.start_as_current_span("loop"):
        for _ in range(2):
            pipeline.log("same", {"mixpanel.event": "Tick"}, timestamp_ns=NOW_NS)
    pipeline.flush()
    events = mixpanel_server.wait_for_events(2, unique=True)
    assert len({event["properties"]["$insert_id"] for event in events}) == 2


def test_export_all_names_records_by_their_body(mixpanel_env, monkeypatch):
    """MIXPANEL_EXPORT_ALL_LOGS=true exports every record, named by its string body."""
    monkeypatch.setenv("MIXPANEL_EXPORT_ALL_LOGS", "true")
    built = Pipeline(mixpanel_env, token=None, api_host=None)
    try:
        built.log("Cache warmed")
        built.log({"structured": True})
        built.log("named", event_name="Named")
        built.flush()
    finally:
        built.processor.shutdown()
    events = mixpanel_env.wait_for_events(3)
    assert sorted(event["event"] for event in events) == [
        "Cache warmed",
        "Named",
        "log",
    ]


def test_records_of_delivery_loggers_are_never_sent(mixpanel_server):
    """Records of the HTTP client's, the SDK's and our loggers are skipped."""
    built = Pipeline(mixpanel_server, export_all_logs=True)
    try:
        for scope in ("urllib3.connectionpool", "requests", "opentelemetry.sdk"):
            built.log("Starting new HTTP connection", scope=scope)
        built.log("feedback", scope="otel_mixpanel._consumer")
        built.log("kept", scope="requests_cache_app")
        built.flush()
    finally:
        built.processor.shutdown()
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "kept"
    assert len(mixpanel_server.events()) == 1


def test_missing_token_names_the_variable(monkeypatch):
    """Without a token the exporter refuses to start, naming MIXPANEL_TOKEN."""
    monkeypatch.delenv("MIXPANEL_TOKEN", raising=False)
    with pytest.raises(ValueError, match="MIXPANEL_TOKEN"):
        MixpanelLogExporter()
    with pytest.raises(TypeError, match="nonsense"):
        MixpanelLogExporter(token="t", nonsense=1)


def test_entry_point_builds_the_exporter_from_the_environment(mixpanel_env):
    """opentelemetry_logs_exporter:mixpanel loads a class that needs no arguments."""
    (entry,) = [
        entry
        for entry in entry_points(group="opentelemetry_logs_exporter")
        if entry.name == "mixpanel"
    ]
    exporter_class = entry.load()
    assert exporter_class is MixpanelLogExporter
    exporter = exporter_class()
    processor = BatchLogRecordProcessor(exporter, schedule_delay_millis=20)
    emit(processor, named_record("From env"))
    processor.shutdown()
    (event,) = mixpanel_env.wait_for_events(1)
    assert event["event"] == "From env"


def test_import_endpoint_with_service_account(mixpanel_server):
    """With service-account credentials the events go to /import."""
    username, secret = mixpanel_server.service_account
    built = Pipeline(
        mixpanel_server,
        service_account_username=username,
        service_account_secret=secret,
        project_id=mixpanel_server.project_id,
    )
    try:
        built.log("x", {"mixpanel.event": "Imported"})
        built.flush()
    finally:
        built.processor.shutdown()
    mixpanel_server.wait_for_events(1)
    assert any("/import" in request.path for request in mixpanel_server.requests())


def test_export_never_raises_and_reports_failure(mixpanel_server):
    """A failing Mixpanel makes export return FAILURE; a later export delivers it."""
    consumer = BufferedConsumer(
        api_host=mixpanel_server.url, retry_deadline=0.2, retry_backoff_factor=0.01
    )
    exporter = MixpanelLogExporter(token=mixpanel_server.token, consumer=consumer)
    record = named_record("Retried")
    mixpanel_server.set_down(True)
    assert exporter.export([record]) is LogExportResult.FAILURE
    mixpanel_server.set_down(False)
    assert exporter.export([]) is LogExportResult.SUCCESS
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Retried"
    exporter.shutdown()
    consumer.close()


def test_a_broken_record_does_not_stop_the_batch(mixpanel_server):
    """An item that cannot be read is counted; the rest of the batch is sent."""
    exporter = MixpanelLogExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    good = named_record("Good")

    class Broken:
        @property
        def log_record(self) -> Any:
            raise RuntimeError("unreadable")

    assert exporter.export([Broken(), good]) is LogExportResult.SUCCESS
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Good"
    assert exporter.losses.snapshot() == {"log record that could not be mapped": 1}
    exporter.shutdown()


def test_shutdown_is_idempotent_and_later_exports_are_counted(mixpanel_server):
    """After shutdown, export and force_flush fail; the records are counted as lost."""
    exporter = MixpanelLogExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    exporter.shutdown()
    exporter.shutdown(timeout_millis=0)
    record = named_record("Late")
    assert exporter.export([record]) is LogExportResult.FAILURE
    assert exporter.losses.snapshot() == {"log record exported after shutdown": 1}
    assert exporter.force_flush(timeout_millis=100) is False


def test_force_flush_gives_up_when_an_export_outlives_the_timeout(mixpanel_server):
    """force_flush returns False, without waiting longer, while an export holds on."""
    exporter = MixpanelLogExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url, retry_deadline=5.0
    )
    mixpanel_server.pause()
    worker = threading.Thread(target=exporter.export, args=([named_record("Slow")],))
    worker.start()
    mixpanel_server.wait_for(lambda server: server.held_requests() == 1)
    assert exporter.force_flush(timeout_millis=50) is False
    mixpanel_server.resume()
    worker.join(10)
    assert not worker.is_alive()
    mixpanel_server.wait_for_events(1)
    exporter.shutdown()
