"""opentelemetry-instrument builds MixpanelLogExporter from the environment alone."""

from __future__ import annotations

from instrumented import run_instrumented as run_script


def run_instrumented(server, **variables: str) -> None:
    """Run the logging script under opentelemetry-instrument, logs to Mixpanel."""
    settings = {
        "OTEL_LOGS_EXPORTER": "mixpanel",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "shop-service",
        "OTEL_BLRP_SCHEDULE_DELAY": "50",
    }
    settings.update(variables)
    run_script(server, "logging_app_logs.py", "user-7", **settings)


def test_opentelemetry_instrument_sends_named_log_records(mixpanel_server):
    """OTEL_LOGS_EXPORTER=mixpanel delivers the records that name an event."""
    run_instrumented(mixpanel_server)
    events = mixpanel_server.wait_for_events(2)
    assert sorted(event["event"] for event in events) == ["Mail queued", "Order placed"]
    for event in events:
        assert event["properties"]["distinct_id"] == "user-7"
        assert event["properties"]["service.name"] == "shop-service"
    (order,) = mixpanel_server.events("Order placed")
    assert order["properties"]["message"] == "Order o-1 placed"
    assert order["properties"]["amount"] == 12.5
    assert order["properties"]["logger.name"] == "shop.orders"
    assert order["properties"]["level"] == "INFO"
    assert len(mixpanel_server.events()) == 2


def test_export_all_sends_application_lines_only(mixpanel_server):
    """With every record exported, the HTTP client's lines still never are."""
    run_instrumented(mixpanel_server, MIXPANEL_EXPORT_ALL_LOGS="true")
    events = mixpanel_server.wait_for_events(3)
    assert sorted(event["event"] for event in events) == [
        "Mail queued",
        "Order placed",
        "Plain line",
    ]
    loggers = {event["properties"]["logger.name"] for event in mixpanel_server.events()}
    assert loggers == {"shop.orders", "shop.mail"}
