"""Testing your own instrumentation with the ``mixpanel_server`` fixture.

The fixtures come with the package (a pytest plugin): ``mixpanel_server`` is a
local Mixpanel-compatible server, ``mixpanel_env`` the same server with
``MIXPANEL_TOKEN`` and ``MIXPANEL_API_HOST`` pointing at it. Run:
``python -m pytest examples/test_my_instrumentation.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import otel_mixpanel
from otel_mixpanel import MixpanelSpanExporter, mark_span
from otel_mixpanel.testing import MixpanelServer

# --- the code under test ----------------------------------------------------


class SignupService:
    """Your application code: it marks the span of each sign-up."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer

    def sign_up(self, user_id: str, plan: str) -> None:
        with self._tracer.start_as_current_span("sign_up"):
            mark_span(
                "Signed up", user_id, properties={"plan": plan}, set={"plan": plan}
            )


def track_invite(client: otel_mixpanel.Mixpanel, user_id: str) -> None:
    """More application code, using the drop-in client."""
    client.track(user_id, "Invited teammate", {"invitees": 1})


# --- the tests --------------------------------------------------------------


@pytest.fixture
def tracer(mixpanel_server: MixpanelServer) -> Iterator[trace.Tracer]:
    """A tracer whose spans are exported to the local server as they end."""
    exporter = MixpanelSpanExporter(
        token=mixpanel_server.token, api_host=mixpanel_server.url
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("tests")
    provider.shutdown()


def test_sign_up_is_an_event_with_a_profile_update(
    tracer: trace.Tracer, mixpanel_server: MixpanelServer
) -> None:
    """A sign-up sends one "Signed up" event and sets the plan on the profile."""
    SignupService(tracer).sign_up("user-1", "team")

    (event,) = mixpanel_server.wait_for_events(1, timeout=5)
    assert event["event"] == "Signed up"
    assert event["properties"]["distinct_id"] == "user-1"
    assert event["properties"]["plan"] == "team"
    (update,) = mixpanel_server.wait_for_people(1, timeout=5)
    assert update["$set"] == {"plan": "team"}


def test_invite_is_tracked(mixpanel_env: MixpanelServer) -> None:
    """The drop-in client reaches the server named by MIXPANEL_API_HOST."""
    consumer = otel_mixpanel.BackgroundConsumer()  # reads MIXPANEL_API_HOST
    client = otel_mixpanel.Mixpanel(os.environ["MIXPANEL_TOKEN"], consumer=consumer)

    track_invite(client, "user-1")
    consumer.close(timeout=5)

    (event,) = mixpanel_env.wait_for_events(1, name="Invited teammate", timeout=5)
    assert event["properties"]["invitees"] == 1
