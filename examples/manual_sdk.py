"""Manual SDK set-up: a TracerProvider, a BatchSpanProcessor and the Mixpanel exporter.

``mark_span`` turns a span into an event (with identity, profile changes and a
group); spans left unmarked are not sent. Run:
``MIXPANEL_TOKEN=... python -m examples.manual_sdk``.
"""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from otel_mixpanel import MixpanelSpanExporter, add_span_event, mark_span

tracer = trace.get_tracer("examples.manual_sdk")


def upgrade_plan(user_id: str, plan: str, seats: int) -> None:
    """Business code: one marked span, one unmarked child with a marked span event."""
    with tracer.start_as_current_span("upgrade_plan"):
        mark_span(
            "Upgraded plan",
            user_id,
            properties={"plan": plan, "seats": seats},
            set={"plan": plan},
            increment={"upgrades": 1},
            groups={"company": "acme"},
        )
        with tracer.start_as_current_span("charge_card"):  # unmarked: not sent
            # A marked span event is sent even though its span is not.
            add_span_event("Charged card", {"amount": 49.0}, distinct_id=user_id)


def main() -> None:
    """Set up tracing, run the business code, and shut down (which delivers)."""
    resource = Resource.create(
        {"service.name": "billing", "deployment.environment.name": "staging"}
    )
    provider = TracerProvider(resource=resource)
    # The exporter reads MIXPANEL_TOKEN and MIXPANEL_API_HOST from the environment.
    provider.add_span_processor(BatchSpanProcessor(MixpanelSpanExporter()))
    trace.set_tracer_provider(provider)

    upgrade_plan("user-7", "team", seats=5)

    provider.shutdown()  # flushes the batch processor and the exporter


if __name__ == "__main__":
    main()
