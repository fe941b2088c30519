"""A tiny app run under opentelemetry-instrument by test_autoinstrument_traces.

It only uses the OpenTelemetry API: the exporter comes from the environment
(OTEL_TRACES_EXPORTER=mixpanel) and delivers at exit.
"""

from __future__ import annotations

import sys

from opentelemetry import trace

from otel_mixpanel import add_span_event, mark_span


def main() -> None:
    """Record one marked span with a marked span event, and one unmarked span."""
    user_id = sys.argv[1] if len(sys.argv) > 1 else "script-user"
    tracer = trace.get_tracer("traced_app")
    with tracer.start_as_current_span("POST /signup"):
        mark_span("Signed up", user_id, properties={"plan": "pro"}, set={"plan": "pro"})
        add_span_event("Welcome mail queued", {"template": "welcome"})
    with tracer.start_as_current_span("GET /health"):
        pass


if __name__ == "__main__":
    main()
