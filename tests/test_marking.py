"""Tests of the helpers that mark spans for the Mixpanel exporter."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otel_mixpanel import (
    MixpanelSpanExporter,
    add_span_event,
    mark_span,
    mixpanel_attributes,
)


def make_tracer(server):
    exporter = MixpanelSpanExporter(token=server.token, api_host=server.url)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, provider.get_tracer("tests")


def test_mixpanel_attributes_spells_the_conventions():
    """Each keyword becomes the matching mixpanel.* attribute."""
    attributes = mixpanel_attributes(
        "Upgraded",
        42,
        properties={"plan": "pro"},
        set={"plan": "pro"},
        set_once={"first_plan": "free"},
        increment={"upgrades": 1},
        append={"history": "pro"},
        union={"features": ["sso", "audit"]},
        remove={"flags": "trial"},
        unset=["trial_ends"],
        groups={"company_id": "acme"},
    )
    assert attributes == {
        "plan": "pro",
        "mixpanel.event": "Upgraded",
        "mixpanel.distinct_id": "42",
        "mixpanel.people.set.plan": "pro",
        "mixpanel.people.set_once.first_plan": "free",
        "mixpanel.people.increment.upgrades": 1,
        "mixpanel.people.append.history": "pro",
        "mixpanel.people.union.features": ("sso", "audit"),
        "mixpanel.people.remove.flags": "trial",
        "mixpanel.people.unset": ("trial_ends",),
        "mixpanel.group.company_id": "acme",
    }
    assert mixpanel_attributes() == {}


def test_mark_span_marks_the_current_span(mixpanel_server):
    """mark_span on the current span sends the event, profile update and group."""
    provider, tracer = make_tracer(mixpanel_server)
    with tracer.start_as_current_span("POST /upgrade") as span:
        marked = mark_span(
            "Upgraded",
            "user-1",
            properties={"from": "free"},
            set={"plan": "pro"},
            groups={"company_id": "acme"},
        )
        assert marked is span
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Upgraded"
    assert event["properties"]["distinct_id"] == "user-1"
    assert event["properties"]["from"] == "free"
    assert event["properties"]["company_id"] == "acme"
    (update,) = mixpanel_server.wait_for_people(1)
    assert update == {**update, "$distinct_id": "user-1", "$set": {"plan": "pro"}}
    provider.shutdown()


def test_mark_span_on_an_explicit_span_adds_to_an_earlier_mark(mixpanel_server):
    """A later mark_span without event adds to the mark of the given span."""
    provider, tracer = make_tracer(mixpanel_server)
    span = tracer.start_span("job")
    mark_span("Job done", span=span)
    mark_span(distinct_id="user-2", span=span, increment={"jobs": 1})
    span.end()
    (event,) = mixpanel_server.wait_for_events(1)
    assert event["event"] == "Job done"
    assert event["properties"]["distinct_id"] == "user-2"
    assert mixpanel_server.wait_for_people(1)[0]["$add"] == {"jobs": 1}
    provider.shutdown()


def test_add_span_event_is_sent_with_the_span_identity(mixpanel_server):
    """add_span_event records a marked span event sent even if the span is not."""
    provider, tracer = make_tracer(mixpanel_server)
    with tracer.start_as_current_span("GET /cart") as span:
        span.set_attribute("user.id", "user-3")
        add_span_event("Coupon applied", {"code": "SPRING"})
        add_span_event("Gift wrapped", distinct_id="user-4", timestamp=span.start_time)
    events = {event["event"]: event for event in mixpanel_server.wait_for_events(2)}
    assert events["Coupon applied"]["properties"]["code"] == "SPRING"
    assert events["Coupon applied"]["properties"]["distinct_id"] == "user-3"
    assert events["Gift wrapped"]["properties"]["distinct_id"] == "user-4"
    assert events["Gift wrapped"]["properties"]["time"] == span.start_time // 10**6
    provider.shutdown()


def test_helpers_do_nothing_without_a_recording_span():
    """Outside any span, the helpers are no-ops and do not raise."""
    span = mark_span("Nothing", "user-5", set={"a": 1})
    assert not span.is_recording()
    add_span_event("Nothing either")
    assert mark_span(span=trace.INVALID_SPAN) is trace.INVALID_SPAN
