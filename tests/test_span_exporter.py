"""Tests of MixpanelSpanExporter with the SDK's pipeline and the local server."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.trace import SpanContext, Status, StatusCode, TraceFlags

from otel_mixpanel import BufferedConsumer, MixpanelSpanExporter
from otel_mixpanel.testing import MixpanelServer

RESOURCE = Resource.create(
    {
        "service.name": "shop",
        "service.version": "2.0.1",
        "deployment.environment.name": "staging",
    }
)


class Pipeline:
    """A TracerProvider with a BatchSpanProcessor feeding a Mixpanel exporter."""

    def __init__(self, server: MixpanelServer, **options: Any) -> None:
        options.setdefault("token", server.token)
        options.setdefault("api_host", server.url)
        self.server = server
        self.exporter = MixpanelSpanExporter(**options)
        self.provider = TracerProvider(
            resource=RESOURCE, span_limits=SpanLimits(max_attributes=1000)
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(self.exporter, schedule_delay_millis=20)
        )
        self.tracer = self.provider.get_tracer("tests")

    def flush(self) -> None:
        assert self.provider.force_flush()


@pytest.fixture
def pipelines(mixpanel_server: MixpanelServer) -> Iterator[Any]:
    built: list[Pipeline] = []

    def build(**options: Any) -> Pipeline:
        pipeline = Pipeline(mixpanel_server, **options)
        built.append(pipeline)
        return pipeline

    yield build
    for pipeline in built:
        pipeline.provider.shutdown()


@pytest.fixture
def pipeline(pipelines: Any) -> Pipeline:
    return pipelines()


def readable_span(
    attributes: dict[str, Any], name: str = "work", **options: Any
) -> ReadableSpan:
    now = time.time_ns()
    context = SpanContext(
        trace_id=0x1234, span_id=0x5678, is_remote=False, trace_flags=TraceFlags(1)
    )
    options.setdefault("start_time", now - 2_000_000)
    options.setdefault("end_time", now)
    return ReadableSpan(
        name, context=context, resource=RESOURCE, attributes=attributes, **options
    )


def test_marked_span_becomes_an_event_and_unmarked_spans_are_left_out(pipeline):
    """Only spans with mixpanel.event are sent, named by that attribute."""
    with pipeline.tracer.start_as_current_span("POST /signup") as span:
        span.set_attribute("mixpanel.event", "Signed up")
        span.set_attribute("plan", "pro")
    with pipeline.tracer.start_as_current_span("GET /health"):
        pass
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert event["event"] == "Signed up"
    assert event["properties"]["plan"] == "pro"
    assert len(pipeline.server.events()) == 1


def test_all_spans_are_sent_when_asked(pipelines):
    """export_all_spans sends every span, named by mixpanel.event or the span name."""
    pipeline = pipelines(export_all_spans=True)
    with pipeline.tracer.start_as_current_span("GET /health"):
        pass
    with pipeline.tracer.start_as_current_span("POST /pay") as span:
        span.set_attribute("mixpanel.event", "Paid")
    pipeline.flush()
    events = pipeline.server.wait_for_events(2)
    assert sorted(event["event"] for event in events) == ["GET /health", "Paid"]


def test_export_all_spans_reads_the_environment(mixpanel_env, monkeypatch):
    """MIXPANEL_EXPORT_ALL_SPANS=true turns on exporting every span."""
    monkeypatch.setenv("MIXPANEL_EXPORT_ALL_SPANS", "true")
    exporter = MixpanelSpanExporter()
    assert exporter.export([readable_span({})]) is SpanExportResult.SUCCESS
    (event,) = mixpanel_env.wait_for_events(1)
    assert event["event"] == "work"
    exporter.shutdown()


def test_properties_time_and_span_details(pipeline):
    """Attributes, resource, trace and span ids, duration and end time in ms."""
    with pipeline.tracer.start_as_current_span("checkout") as span:
        span.set_attributes(
            {"mixpanel.event": "Checked out", "cart.items": 3, "tags": ("a", "b")}
        )
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    properties = event["properties"]
    context = span.get_span_context()
    assert properties["cart.items"] == 3
    assert properties["tags"] == ["a", "b"]
    assert properties["service.name"] == "shop"
    assert properties["service.version"] == "2.0.1"
    assert properties["deployment.environment.name"] == "staging"
    assert properties["trace_id"] == format(context.trace_id, "032x")
    assert properties["span_id"] == format(context.span_id, "016x")
    assert properties["time"] == span.end_time // 1_000_000
    assert properties["duration_ms"] == pytest.approx(
        (span.end_time - span.start_time) / 1e6, abs=0.001
    )
    assert "error" not in properties
    assert "mixpanel.event" not in properties


def test_credentials_are_redacted(pipeline):
    """Authorization headers, cookies, passwords and tokens never reach Mixpanel."""
    with pipeline.tracer.start_as_current_span("login") as span:
        span.set_attributes(
            {
                "mixpanel.event": "Logged in",
                "http.request.header.authorization": ("Bearer abc",),
                "http.request.header.cookie": ("sid=abc",),
                "db.password": "abc",
                "auth.token": "abc",
                "http.route": "/login",
            }
        )
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert "abc" not in str(event)
    assert event["properties"]["http.route"] == "/login"


def test_user_redaction_list(pipelines):
    """redact= replaces the default list."""
    pipeline = pipelines(redact=["card"])
    with pipeline.tracer.start_as_current_span("pay") as span:
        span.set_attributes(
            {"mixpanel.event": "Paid", "payment.card": "4242", "auth.token": "t"}
        )
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert "payment.card" not in event["properties"]
    assert event["properties"]["auth.token"] == "t"


def test_identity_order_and_span_events_inherit_it(pipeline):
    """distinct_id follows mixpanel.distinct_id > user.id; span events inherit it."""
    with pipeline.tracer.start_as_current_span("a") as span:
        span.set_attributes(
            {"mixpanel.event": "A", "user.id": "u-user", "enduser.id": "u-end"}
        )
        span.add_event("Step", {"n": 1})
    with pipeline.tracer.start_as_current_span("b") as span:
        span.set_attributes(
            {"mixpanel.event": "B", "mixpanel.distinct_id": "u-mp", "user.id": "x"}
        )
    with pipeline.tracer.start_as_current_span("c") as span:
        span.set_attributes({"mixpanel.event": "C", "enduser.pseudo.id": "u-pseudo"})
    with pipeline.tracer.start_as_current_span("d") as span:
        span.set_attributes({"mixpanel.event": "D", "user.id": "anon"})
    pipeline.flush()
    events = pipeline.server.wait_for_events(5)
    identity = {
        event["event"]: event["properties"].get("distinct_id") for event in events
    }
    assert identity == {
        "A": "u-user",
        "Step": "u-user",
        "B": "u-mp",
        "C": "u-pseudo",
        "D": None,
    }


def test_span_events_of_exported_spans_are_events_at_their_own_time(pipeline):
    """A sent span's events are events named by the span event, at its timestamp."""
    with pipeline.tracer.start_as_current_span("cart") as span:
        span.set_attribute("mixpanel.event", "Cart viewed")
        span.add_event("Item added", {"sku": "A1"}, timestamp=time.time_ns() - 10**9)
    pipeline.flush()
    events = pipeline.server.wait_for_events(2)
    (added,) = [event for event in events if event["event"] == "Item added"]
    assert added["properties"]["sku"] == "A1"
    assert added["properties"]["time"] == span.events[0].timestamp // 1_000_000


def test_marked_span_event_is_sent_without_its_span(pipeline):
    """A span event with mixpanel.event is sent even when its span is not."""
    with pipeline.tracer.start_as_current_span("GET /") as span:
        span.set_attributes({"user.id": "u1", "mixpanel.group.company_id": "acme"})
        span.add_event("ignored")
        span.add_event("coupon", {"mixpanel.event": "Coupon applied", "code": "X"})
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert event["event"] == "Coupon applied"
    assert event["properties"]["distinct_id"] == "u1"
    assert event["properties"]["company_id"] == "acme"
    assert len(pipeline.server.events()) == 1


def test_exception_events_fold_into_the_failed_span(pipeline):
    """A failed span carries error, error.message and exception.*, never the stack."""
    with pytest.raises(ValueError):
        with pipeline.tracer.start_as_current_span("pay") as span:
            span.set_attribute("mixpanel.event", "Payment failed")
            raise ValueError("card declined")
    pipeline.flush()
    events = pipeline.server.wait_for_events(1)
    assert [event["event"] for event in events] == ["Payment failed"]
    properties = events[0]["properties"]
    assert properties["error"] is True
    assert "card declined" in properties["error.message"]
    assert properties["exception.type"] == "ValueError"
    assert properties["exception.message"] == "card declined"
    assert "exception.stacktrace" not in properties


def test_error_status_without_exception(pipeline):
    """A span set to ERROR has error true and the status description."""
    with pipeline.tracer.start_as_current_span("x") as span:
        span.set_attribute("mixpanel.event", "Upload")
        span.set_status(Status(StatusCode.ERROR, "quota exceeded"))
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert event["properties"]["error"] is True
    assert event["properties"]["error.message"] == "quota exceeded"


def test_same_span_exported_twice_is_counted_once(mixpanel_server):
    """$insert_id is stable, so Mixpanel deduplicates a re-exported span."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    span = readable_span(
        {"mixpanel.event": "Paid", "user.id": "u1"},
        events=[Event("Receipt", {}, timestamp=time.time_ns())],
    )
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    assert exporter.export([span]) is SpanExportResult.SUCCESS
    assert len(mixpanel_server.wait_for_events(4)) == 4
    unique = mixpanel_server.unique_events()
    assert sorted(event["event"] for event in unique) == ["Paid", "Receipt"]
    insert_ids = {event["properties"]["$insert_id"] for event in unique}
    assert len(insert_ids) == 2
    exporter.shutdown()


def test_profile_and_group_attributes(pipeline):
    """mixpanel.people.* become /engage updates; mixpanel.group.* a property."""
    with pipeline.tracer.start_as_current_span("upgrade") as span:
        span.set_attributes(
            {
                "mixpanel.event": "Upgraded",
                "user.id": "u1",
                "mixpanel.people.set.plan": "pro",
                "mixpanel.people.increment.upgrades": 1,
                "mixpanel.people.union.features": ("sso",),
                "mixpanel.people.unset": ("trial_ends",),
                "mixpanel.group.company_id": "acme",
            }
        )
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert event["properties"]["company_id"] == "acme"
    updates = pipeline.server.wait_for_people(4)
    assert all(update["$distinct_id"] == "u1" for update in updates)
    operations = {key: update[key] for update in updates for key in update}
    assert operations["$set"] == {"plan": "pro"}
    assert operations["$add"] == {"upgrades": 1}
    assert operations["$union"] == {"features": ["sso"]}
    assert operations["$unset"] == ["trial_ends"]


def test_profile_updates_of_an_unmarked_span_are_sent_alone(pipeline):
    """A span with mixpanel.people.* but no event sends only its profile updates."""
    with pipeline.tracer.start_as_current_span("settings") as span:
        span.set_attributes({"user.id": "u1", "mixpanel.people.set.theme": "dark"})
    pipeline.flush()
    (update,) = pipeline.server.wait_for_people(1)
    assert update["$set"] == {"theme": "dark"}
    assert pipeline.server.events() == []


def test_profile_update_without_identity_is_counted(pipeline):
    """Without identity, profile updates are skipped and counted; the event goes."""
    with pipeline.tracer.start_as_current_span("x") as span:
        span.set_attributes({"mixpanel.event": "X", "mixpanel.people.set.a": 1})
    pipeline.flush()
    (event,) = pipeline.server.wait_for_events(1)
    assert "distinct_id" not in event["properties"]
    assert pipeline.server.people() == []
    assert pipeline.exporter.losses.snapshot() == {"no identity for profile update": 1}


def test_import_credentials_send_to_import(pipelines, mixpanel_server):
    """With a service account, events go to /import."""
    username, secret = mixpanel_server.service_account
    pipeline = pipelines(
        service_account_username=username,
        service_account_secret=secret,
        project_id=mixpanel_server.project_id,
    )
    with pipeline.tracer.start_as_current_span("x") as span:
        span.set_attribute("mixpanel.event", "Imported")
    pipeline.flush()
    mixpanel_server.wait_for_events(1)
    endpoints = {request.endpoint for request in mixpanel_server.requests()}
    assert endpoints == {"imports"}


def test_hostile_values_never_make_export_fail(pipeline):
    """Huge strings, NaN, inf and hundreds of attributes: the batch still goes."""
    hostile = {f"attr.{index}": "v" * 5000 for index in range(400)}
    hostile.update(
        {"mixpanel.event": "Hostile", "nan": math.nan, "inf": math.inf, "n": -math.inf}
    )
    with pipeline.tracer.start_as_current_span("hostile") as span:
        span.set_attributes(hostile)
        span.add_event("Hostile event", {"x": "y" * 100_000, "z": (math.nan, 1.0)})
    with pipeline.tracer.start_as_current_span("fine") as span:
        span.set_attribute("mixpanel.event", "Fine")
    pipeline.flush()
    events = pipeline.server.wait_for_events(3)
    assert sorted(event["event"] for event in events) == [
        "Fine",
        "Hostile",
        "Hostile event",
    ]
    losses = pipeline.exporter.losses.snapshot()
    assert losses["invalid property"] == 4
    assert losses["too many properties"] > 100


def test_mixed_and_odd_values_in_a_direct_batch(mixpanel_server):
    """Mixed arrays are cleaned; a broken span does not stop the batch."""

    class BrokenSpan:
        name = "broken"

        @property
        def attributes(self) -> Any:
            raise RuntimeError("broken attributes")

    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    mixed = readable_span(
        {"mixpanel.event": "Mixed", "mixed": [1, "a", None, math.nan, b"x", {"k": 1}]}
    )
    result = exporter.export([BrokenSpan(), mixed])  # type: ignore[list-item]
    assert result is SpanExportResult.SUCCESS
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["properties"]["mixed"] == [1, "a", None, {"k": 1}]
    assert exporter.losses.snapshot()["span that could not be mapped"] == 1
    exporter.shutdown()


def test_failed_export_keeps_events_for_the_next_one(mixpanel_server):
    """When Mixpanel is down export returns FAILURE; the events go out later."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url, retry_deadline=0.3
    )
    mixpanel_server.set_down(True)
    assert exporter.export([readable_span({"mixpanel.event": "Late"})]) is (
        SpanExportResult.FAILURE
    )
    assert exporter.force_flush(timeout_millis=100) is False
    mixpanel_server.set_down(False)
    assert exporter.force_flush() is True
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Late"
    exporter.shutdown()


def test_shutdown_cuts_a_retrying_export_short(mixpanel_server):
    """shutdown(timeout_millis) ends a running export's retries; later exports fail."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url, retry_deadline=60
    )
    mixpanel_server.fail_next(100, status=503, retry_after=30)
    results: list[SpanExportResult] = []
    worker = threading.Thread(
        target=lambda: results.append(
            exporter.export([readable_span({"mixpanel.event": "Stuck"})])
        )
    )
    worker.start()
    mixpanel_server.wait_for(lambda server: len(server.requests()) >= 1)
    exporter.shutdown(timeout_millis=50)
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert results == [SpanExportResult.FAILURE]
    assert exporter.export([readable_span({"mixpanel.event": "After"})]) is (
        SpanExportResult.FAILURE
    )


def test_shutdown_counts_what_it_could_not_deliver(mixpanel_server):
    """Events still undelivered when shutdown's time is up are counted as lost."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url, retry_deadline=0.2
    )
    mixpanel_server.set_down(True)
    exporter.export([readable_span({"mixpanel.event": "Lost"})])
    exporter.shutdown(timeout_millis=100)
    assert exporter.losses.snapshot()["undelivered at close"] == 1


def test_shutdown_flushes_a_given_consumer_without_closing_it(mixpanel_server):
    """A consumer passed in is flushed at shutdown but stays usable."""
    consumer = BufferedConsumer(api_host=mixpanel_server.url)
    exporter = MixpanelSpanExporter(token=mixpanel_server.token, consumer=consumer)
    consumer.send("events", '{"event":"Buffered","properties":{"token":"test-token"}}')
    exporter.shutdown()
    assert [event["event"] for event in mixpanel_server.wait_for_events(1)] == [
        "Buffered"
    ]
    consumer.send("events", '{"event":"Again","properties":{"token":"test-token"}}')
    consumer.flush()
    assert len(mixpanel_server.wait_for_events(2)) == 2
    consumer.close()


def test_simple_span_processor_works_too(mixpanel_server):
    """The exporter also works under SimpleSpanProcessor."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("t").start_as_current_span("x") as span:
        span.set_attribute("mixpanel.event", "Simple")
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Simple"
    provider.shutdown()


def test_settings_come_from_the_environment(mixpanel_env):
    """With no arguments the exporter reads MIXPANEL_TOKEN and MIXPANEL_API_HOST."""
    exporter = MixpanelSpanExporter()
    assert exporter.export([readable_span({"mixpanel.event": "Env"})]) is (
        SpanExportResult.SUCCESS
    )
    assert mixpanel_env.wait_for_events(1)[0]["properties"]["token"] == (
        mixpanel_env.token
    )
    exporter.shutdown()


def test_missing_token_is_a_clear_error(mixpanel_env, monkeypatch):
    """Without a token, construction fails naming MIXPANEL_TOKEN."""
    monkeypatch.delenv("MIXPANEL_TOKEN")
    with pytest.raises(ValueError, match="MIXPANEL_TOKEN"):
        MixpanelSpanExporter()


def test_unknown_keyword_is_refused():
    """A misspelt keyword raises TypeError instead of being ignored."""
    with pytest.raises(TypeError, match="apihost"):
        MixpanelSpanExporter(token="t", apihost="x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_exports_while_the_parent_is_exporting(mixpanel_server):
    """A child forked during an export gets a fresh lock and can export."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    with exporter._export_lock.exporting():  # an export under way in the parent
        pid = os.fork()
        if pid == 0:  # the child
            result = exporter.export([readable_span({"mixpanel.event": "Child"})])
            os._exit(0 if result is SpanExportResult.SUCCESS else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert mixpanel_server.wait_for_events(1)[0]["event"] == "Child"
    exporter.shutdown()
