"""opentelemetry-instrument builds MixpanelSpanExporter from the environment alone."""

from __future__ import annotations

from instrumented import run_instrumented


def test_opentelemetry_instrument_sends_marked_spans(mixpanel_server):
    """OTEL_TRACES_EXPORTER=mixpanel with MIXPANEL_* variables delivers the events."""
    run_instrumented(
        mixpanel_server,
        "traced_app.py",
        "user-42",
        OTEL_TRACES_EXPORTER="mixpanel",
        OTEL_LOGS_EXPORTER="none",
        OTEL_SERVICE_NAME="signup-service",
        OTEL_BSP_SCHEDULE_DELAY="50",
    )
    events = mixpanel_server.wait_for_events(2)
    assert sorted(event["event"] for event in events) == [
        "Signed up",
        "Welcome mail queued",
    ]
    for event in events:
        assert event["properties"]["distinct_id"] == "user-42"
        assert event["properties"]["service.name"] == "signup-service"
    (update,) = mixpanel_server.wait_for_people(1)
    assert update["$set"] == {"plan": "pro"}
