"""opentelemetry-instrument builds MixpanelSpanExporter from the environment alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parent / "scripts" / "traced_app.py"
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"


def test_opentelemetry_instrument_sends_marked_spans(mixpanel_server):
    """OTEL_TRACES_EXPORTER=mixpanel with MIXPANEL_* variables delivers the events."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MIXPANEL_", "OTEL_"))
    }
    environment.update(
        {
            "OTEL_TRACES_EXPORTER": "mixpanel",
            "OTEL_METRICS_EXPORTER": "none",
            "OTEL_LOGS_EXPORTER": "none",
            "OTEL_SERVICE_NAME": "signup-service",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
            "MIXPANEL_TOKEN": mixpanel_server.token,
            "MIXPANEL_API_HOST": mixpanel_server.url,
        }
    )
    completed = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(SCRIPT), "user-42"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
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
